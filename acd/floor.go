package acd

import "github.com/hotline12348/hotline/agent"

// Floor is the ACD as the rest of the hotline drives and reads it: the call
// layer queues calls and reports what the seats' phones did, the registrar
// reports registrations, the console changes and shows seat states.
//
// *ACD is the Floor of one node (its state in memory). internal/cluster has
// the Floor of several nodes sharing one state in Redis (SPEC §11), where
// every method is one atomic step on the Redis server and the matching
// rules are the same, decided in one place (a Lua script). Both send a
// call's events on the channel Enqueue returns and both number offers with
// fencing tokens that every report must carry back.
type Floor interface {
	Enqueue(c Call) (<-chan Event, error)
	Abandon(callID string) error
	Answered(callID string, seat agent.SeatID, token uint64) error
	NoAnswer(callID string, seat agent.SeatID, token uint64) error
	Declined(callID string, seat agent.SeatID, token uint64) error
	Hangup(callID string, seat agent.SeatID, token uint64) error

	SeatRegistered(id agent.SeatID) error
	SeatUnregistered(id agent.SeatID) error
	SetState(id agent.SeatID, state agent.State, reason string) error

	Seats() []agent.Seat
	Seat(id agent.SeatID) (agent.Seat, error)
	LoggedIn() int
	Position(callID string) int
	Queue() []QueueEntry
	Counts() Counts
	Subscribe() (<-chan Change, func())
	Close() error
}

var _ Floor = (*ACD)(nil)
