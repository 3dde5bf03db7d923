// Package cluster makes several hotline nodes one call centre (SPEC §11):
// the ACD's state, the seats' registrations and the nodes' liveness live
// in Redis, and every change to them is one atomic run of one Lua script
// (acd.lua) on the Redis server.
//
// # Why one script, and why here
//
// The single-node ACD (package acd) decides under a mutex: a change and the
// dispatch pass that follows it are one step. Across nodes the same step
// must be one critical section of the whole cluster, and Redis runs a
// script as exactly that. So each method of Node (acd.Floor) runs the
// script with an operation name; the script applies the change, brings the
// state up to now (bindings expired, dead nodes reaped, wrap-ups ended,
// waits past max_wait sent to voicemail), pairs waiting calls with ready
// seats by the rules of acd/dispatch.go — green first, then arrival order
// from a Redis sequence (INCR, never a node's clock); the longest-idle
// ready seat with the call's skill; any ready seat after skill_fallback;
// decliners last — and appends what changed to a Redis stream. No seat is
// offered two calls and no call two seats, whatever node runs what when,
// because no two runs interleave. There is no lease, no WATCH/MULTI retry
// loop (they collapse under contention), and no check-then-write across
// round trips.
//
// The script keeps every key under one hash tag ({hotline} by default), so
// Redis Cluster would take it; it is sent with EVALSHA and reloaded on
// NOSCRIPT (a restarted or failed-over Redis has lost its script cache).
// Lua has no rollback: each operation checks before it writes.
//
// The matching rules exist twice, in Go (package acd, one node) and in Lua
// (here): TestDifferentialMemoryVsRedis drives both with the same random
// steps and compares them after every step.
//
// # Fencing
//
// Every offer gets a token from INCR (agent.Seat.Token, acd.Event.Token);
// every later report (answered, no answer, declined, hang-up) carries it,
// and the script refuses a report whose token is not the seat's current
// one. A seat's 200 for a stale offer is therefore refused, and the call
// layer ACKs and BYEs it.
//
// # Liveness
//
// A node heartbeats every cluster.heartbeat; the time is the Redis
// server's (TIME inside the script), never the node's. A node silent for
// half of cluster.node_timeout is suspect (given no new offers, nor are its
// seats); silent for node_timeout it is dead, and the next script run by
// any node reaps it once: its queued calls leave the queue, offers to them
// are released, seats talking to them go to wrap-up, seats registered only
// through it go offline. Keyspace notifications are not used: they are lost
// while a client is disconnected. A node restarting with the same node_id
// reaps only its own previous boot (each process has a random boot id) and
// keeps its UDP registrations (same socket address); a node that finds
// itself reaped (it was paused or cut off) stops dispatching and re-asserts
// what it really holds before it goes on.
//
// # Re-assertion
//
// Each node holds the truth of its own calls (waiting, ringing a seat with
// a token, connected) and of the registrations that came through its
// sockets. When the shared state may have lost some of it — the node was
// reaped, Redis restarted empty (a generation key tells), or the connection
// broke (a Sentinel failover loses the writes the old master had not yet
// replicated) — the node re-asserts all of it in one script run that merges
// rather than overwrites: the sequence and fence counters are raised to at
// least what the node has seen (tokens never repeat), missing calls return
// at their original place, a missing offer or connection is restored if the
// seat is free, and a seat already given to someone else keeps that (the
// asserted offer's reports will then be refused as stale). If anything was
// missing, dispatch pauses for a short freeze so the other nodes re-assert
// theirs before any seat is offered again. With Sentinel, every write is
// followed by WAIT on the same connection (one replica, bounded), which
// narrows the window in which an acknowledged write can be lost.
//
// # Redis unreachable
//
// Methods fail fast with acd.ErrUnavailable; new callers go to voicemail,
// connected calls go on, reports that could not be sent are replayed in
// order once Redis is back, then the node re-asserts and dispatch resumes.
// Views answer from the last snapshot read.
//
// It imports acd, agent and internal/sip (for sip.Binding) and go-redis;
// nothing imports it but internal/app.
package cluster
