// Package recordings writes call recordings: 8 kHz 16-bit PCM WAV files,
// stereo for bridged calls (caller left, seat right) and mono for voicemail,
// named <root>/YYYY/MM/DD/<ticket id>.wav, and deletes them after the
// retention period (SPEC §8).
//
// The recorders take decoded audio packet by packet, with the packet's RTP
// SSRC and timestamp and its arrival time, from whatever receives the media
// (internal/media's Leg.SetTap and BridgeTap: their Tap interface is
// satisfied by Mono and by Stereo's feeds). They place the audio by RTP
// timestamp within a stream and by arrival time across streams, so lost
// packets, silence suppression, pauses, SSRC changes and two sides with
// different packet sizes all end up where they were heard in time.
//
// This is a domain package: it imports the standard library only (no media,
// SIP, Prometheus or database packages), and all time comes from the
// arguments, so it is tested with plain values.
package recordings
