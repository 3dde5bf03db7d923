package adapt

import (
	"runtime"
	"testing"
	"time"

	"github.com/hotline12348/hotline/internal/call"
	sipsrv "github.com/hotline12348/hotline/internal/sip"
)

// The SIP events of a leg reach the call layer in order and under its
// names; kinds the call layer has no name for are dropped; the mapper ends
// when its call does, even with an event waiting to be taken.
func TestMapEvents(t *testing.T) {
	in := make(chan sipsrv.Event, 8)
	done := make(chan struct{})
	out := mapEvents(in, done)
	in <- sipsrv.Event{Kind: sipsrv.EventDigit, Digit: '5'}
	in <- sipsrv.Event{Kind: sipsrv.EventKind(99)}
	in <- sipsrv.Event{Kind: sipsrv.EventSessionExpired}
	in <- sipsrv.Event{Kind: sipsrv.EventNoAck}
	in <- sipsrv.Event{Kind: sipsrv.EventCancel}
	in <- sipsrv.Event{Kind: sipsrv.EventBye}
	want := []call.Event{{Kind: call.EventDigit, Digit: '5'}, {Kind: call.EventSessionExpired}, {Kind: call.EventNoAck},
		{Kind: call.EventCancel}, {Kind: call.EventHangup}}
	for i, w := range want {
		select {
		case got := <-out:
			if got != w {
				t.Fatalf("event %d: %+v, want %+v", i, got, w)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("event %d: none", i)
		}
	}
	before := runtime.NumGoroutine()
	for range 20 { // more than the output buffer holds: the mapper blocks on out
		in <- sipsrv.Event{Kind: sipsrv.EventDigit, Digit: '1'}
	}
	close(done)
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() >= before {
		if time.Now().After(deadline) {
			t.Fatalf("the mapper did not end with its call (%d goroutines, %d before)", runtime.NumGoroutine(), before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
