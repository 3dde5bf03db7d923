// Package media is the hotline's media plane: G.711 codecs, SDP offer/answer
// (RFC 3264 on RFC 4566), RFC 4733 DTMF detection, RTP legs bound on random
// ports of a range with strict symmetric-RTP latching (a leg learns its peer
// only from the addresses the signalling announced; see latch.go), a paced
// prompt player that keeps every leg
// sending 20 ms frames, the anchored relay between two legs of a bridged call,
// a mixer for calls of more than two legs,
// and a receive-side tap for recording.
//
// Ownership rules (the reason this package exists as it does):
//   - each Leg has exactly one reader goroutine;
//   - a Leg's sender state (SSRC, sequence number, timestamp, playback) is
//     guarded by the leg's transmit mutex, so exactly one goroutine writes at a
//     time: the pacer (a shared shard goroutine, or the leg's own goroutine in
//     PacerPerLeg mode) while the leg is not bridged, the peer leg's reader
//     while it is (see Bridge), the mixer's goroutine while the leg is in a
//     Mixer (supervision, conference: G.711 decoded, summed, re-encoded);
//   - nothing on the packet paths allocates (per-leg buffers, pion/rtp
//     Header.Unmarshal/MarshalTo, ReadFromUDPAddrPort/WriteToUDPAddrPort).
//
// This package must not import sipgo or anything SIP, nor any domain package
// (call, acd, ivr, recordings): it knows RTP and SDP bodies, not dialogs. It
// logs through the *slog.Logger and registers metrics on the
// prometheus.Registerer it is given, never on global defaults.
package media
