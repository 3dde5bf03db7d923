// Package acd is the hotline's automatic call distributor (SPEC §6): it
// queues calls by priority (green channel first) and arrival, offers each to
// the ready seat with the call's skill that has been idle longest — any ready
// seat once the call has waited Config.SkillFallback — and moves the seats
// (package agent) through ringing, busy, wrap-up and back as calls are
// offered, answered, refused and ended.
//
// # One decision point
//
// Every change — a phone registering or going away, an operator's button, a
// call arriving, answered, refused or gone, a deadline — goes through one
// method of ACD under one mutex and ends with one dispatch pass that pairs
// waiting calls with ready seats. Nothing else writes the state, and an offer
// makes the seat ringing and the call offered in the same step, so no seat is
// ever offered two calls and no call is offered to two seats; after each pass
// no ready seat is left idle while a call it may take waits (unless the seat
// declined that call: see below).
//
// # Matching (SPEC §6)
//
// Calls are served green before normal, then in order of EnqueuedAt (ties by
// arrival). A call whose offer fails (ring timeout, decline, the seat's
// registration going away) waits again at its original place: ahead of
// everyone who came after it. For a call, the ready seats with its skill are
// tried longest idle first (earliest agent.Seat.IdleSince); once the call has
// waited SkillFallback any ready seat may take it, skilled ones still first.
// A seat that declined a call is not offered it again while another seat
// could take it (one with the skill, or any once past the fallback, that is
// registered and not not_ready); calls behind it are served meanwhile.
//
// The queue is one FIFO per (priority, skill); the pick compares only the
// heads of the FIFOs against the (few) ready seats, so it costs the same with
// ten callers or ten thousand (BenchmarkSeatReady).
//
// # The call layer's side
//
// One goroutine per call (internal/call) calls Enqueue and reads the returned
// channel until the ACD closes it:
//
//   - Offer{Seat}: ring that seat, then report Answered, NoAnswer (the phone
//     failed), Declined (486/603) or, if the caller hung up, Abandon.
//     Nothing else is sent until it does, except Withdrawn or RingTimeout.
//   - Withdrawn{Seat}: the seat's registration went away while it rang:
//     CANCEL the INVITE; the call already waits again at its place.
//   - RingTimeout{Seat}: the seat rang Config.RingTimeout (RONA: it is
//     not_ready, reason no_answer): CANCEL the INVITE; the call already
//     waits again at its place.
//   - MaxWait (waited Config.MaxWait) or NoSeats (no seat logged in when it
//     arrived): voicemail; the call has left the queue.
//
// The channel is closed when the ACD lets go of the call: after a terminal
// event, Answered or Abandon, when the ACD closes, or if the call goroutine
// stopped reading and its buffer filled (the call is then dropped, not
// waited for: the ACD never blocks under its lock). A connected call ends
// with Hangup: the seat wraps up for Config.WrapUp, then is ready again (or
// not_ready, if the operator asked during the call).
//
// The ACD decides; the call layer obeys. The ACD times the ringing itself
// (the ring watchdog, Config.RingTimeout), so an offer ends even if the call
// layer never reports. An offer ends in exactly one way, and every report
// about an offer that has ended — the seat's 200 crossing the CANCEL sent
// for a withdrawal, a ring timeout or the caller hanging up — is refused
// with ErrNotOffered: the call layer ACKs and BYEs that late answer and the
// call waits on (or is gone). No seat is ever left ringing for a call
// nobody dials: the seat of an offer that ended is not_ready (ring
// timeout), offline (withdrawn) or ready (abandoned), and the call is
// either waiting, offered to the next seat, or out of the queue.
//
// MaxWait counts from EnqueuedAt and does not fire while the call rings at a
// seat; if it passed meanwhile, it applies as soon as that offer fails.
//
// # Goroutines and time
//
// The ACD owns one goroutine, which wakes at the next deadline (a wrap-up
// end, a MaxWait, a call reaching SkillFallback while a seat is ready) and
// runs the same settle step as every method; Close stops and waits for it.
// Time is read with the time package, so tests run under testing/synctest.
//
// The state itself is behind Store (MemoryStore). Floor is the ACD's
// interface to the rest of the hotline; *ACD is the Floor of one node, and
// internal/cluster the Floor of several nodes sharing one state in Redis
// (SPEC §11), deciding by the same rules in one Lua script. Both number
// offers with fencing tokens (agent.Seat.Token, Event.Token): every report
// about an offer carries its token, and a report about an older offer is
// refused with ErrNotOffered.
//
// This is a domain package: it imports the standard library and package
// agent only (no SIP, media, Redis, SQLite or Prometheus); internal/call
// drives it and internal/web and the metrics read it.
package acd
