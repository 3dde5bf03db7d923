package call

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline12348/hotline/configs"
	"github.com/hotline12348/hotline/internal/config"
	"github.com/hotline12348/hotline/internal/metrictest"
	"github.com/hotline12348/hotline/internal/ticket"
	"github.com/hotline12348/hotline/ivr"

	"github.com/hotline12348/hotline/internal/vocab"
)

// fakeInbound is the caller's signalling.
type fakeInbound struct {
	called string
	offer  []byte
	events chan Event

	mu        sync.Mutex
	answered  bool
	rejected  int
	hangups   int
	answerErr error
}

func (f *fakeInbound) CallID() string       { return "call-1@test" }
func (f *fakeInbound) Caller() string       { return "13800000000" }
func (f *fakeInbound) Called() string       { return f.called }
func (f *fakeInbound) Offer() []byte        { return f.offer }
func (f *fakeInbound) Source() netip.Addr   { return sbcAddr }
func (f *fakeInbound) Events() <-chan Event { return f.events }
func (f *fakeInbound) Logger() *slog.Logger { return slog.New(slog.DiscardHandler) }
func (f *fakeInbound) Answer(sdp []byte, _ func([]byte) ([]byte, error)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answered = true
	return f.answerErr
}
func (f *fakeInbound) Reject(code int, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rejected = code
	return nil
}
func (f *fakeInbound) SendDigit(_ context.Context, d rune) error { noteInfo(f, d); return nil }
func (f *fakeInbound) Hangup(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hangups++
	return nil
}

// The signalling sources the fakes report: the SBC an INVITE comes from,
// and a seat's registration source.
var (
	sbcAddr  = netip.MustParseAddr("192.0.2.1")
	seatAddr = netip.MustParseAddr("198.51.100.9")
)

// fakeMedia plays every prompt for one virtual second.
type fakeMedia struct {
	digits chan rune
	done   chan struct{}

	mu          sync.Mutex
	appliedFrom netip.Addr // ApplyAnswer's signalling source
	played      []string
	stop        chan struct{}
	recording   bool
	recStart    time.Time
	recPath     string
	recErr      error
	closed      bool
}

func newFakeMedia() *fakeMedia {
	return &fakeMedia{digits: make(chan rune, 8), done: make(chan struct{})}
}

func (m *fakeMedia) Play(prompts ...string) <-chan struct{} {
	m.StopPlay()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.played = append(m.played, prompts...)
	stop := make(chan struct{})
	m.stop = stop
	out := make(chan struct{})
	go func() {
		defer close(out)
		select {
		case <-time.After(time.Duration(len(prompts)) * time.Second):
		case <-stop:
		}
	}()
	return out
}

func (m *fakeMedia) StopPlay() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stop != nil {
		close(m.stop)
		m.stop = nil
	}
}
func (m *fakeMedia) Digits() <-chan rune              { return m.digits }
func (m *fakeMedia) Reoffer(o []byte) ([]byte, error) { return o, nil }
func (m *fakeMedia) ApplyAnswer(_ []byte, from netip.Addr) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.appliedFrom = from
	return nil
}
func (m *fakeMedia) Done() <-chan struct{} { return m.done }
func (m *fakeMedia) Err() error            { return errors.New("rtp inactivity") }
func (m *fakeMedia) StartRecording(path string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.recErr != nil {
		return m.recErr
	}
	m.recording, m.recStart, m.recPath = true, time.Now(), path
	return nil
}
func (m *fakeMedia) StopRecording() (time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.recording {
		return 0, nil
	}
	m.recording = false
	return time.Since(m.recStart), nil
}
func (m *fakeMedia) Close() error {
	m.StopPlay()
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	return nil
}

type fakeFactory struct {
	m   *fakeMedia
	err error

	mu         sync.Mutex
	answerFrom netip.Addr   // Answer's signalling source
	seatLegs   []*fakeMedia // made by Offer
}

func (f *fakeFactory) Answer(_ []byte, from netip.Addr, _ *slog.Logger) (Media, []byte, error) {
	f.mu.Lock()
	f.answerFrom = from
	f.mu.Unlock()
	if f.err != nil {
		return nil, nil, f.err
	}
	return f.m, []byte("v=0 answer"), nil
}

func (f *fakeFactory) Offer(Media, string, *slog.Logger) (Media, []byte, error) {
	m := newFakeMedia()
	f.mu.Lock()
	f.seatLegs = append(f.seatLegs, m)
	f.mu.Unlock()
	return m, []byte("v=0 offer"), nil
}

func (f *fakeFactory) Bridge(_, _ Media, path string) (func() (time.Duration, error), error) {
	start := time.Now()
	return func() (time.Duration, error) { return time.Since(start), nil }, nil
}

// memTickets is an in-memory ticket sink with revisions.
type memTickets struct {
	mu      sync.Mutex
	t       *ticket.Ticket
	events  []string
	openErr error
}

func (s *memTickets) Open(_ context.Context, t *ticket.Ticket) error {
	if s.openErr != nil {
		return s.openErr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t.ID, t.Revision, t.Status = "T1", 1, vocab.StatusOpen
	c := *t
	s.t = &c
	s.events = append(s.events, ticket.EventOpened)
	return nil
}

func (s *memTickets) Update(_ context.Context, id ticket.ID, fn func(*ticket.Ticket) error) (*ticket.Ticket, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := *s.t
	if err := fn(&next); err != nil {
		return nil, err
	}
	next.Revision++
	ev := ticket.EventUpdated
	if next.Status == vocab.StatusClosed && s.t.Status != vocab.StatusClosed {
		ev = ticket.EventClosed
	}
	s.events = append(s.events, ev)
	s.t = &next
	c := next
	return &c, nil
}

func (s *memTickets) get() ticket.Ticket {
	s.mu.Lock()
	defer s.mu.Unlock()
	return *s.t
}

func menu(t *testing.T) *ivr.Menu {
	t.Helper()
	m, err := config.LoadMenu(configs.IVRYAML())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

type rig struct {
	svc     *Service
	in      *fakeInbound
	media   *fakeMedia
	tickets *memTickets
	reg     *prometheus.Registry
}

func newRig(t *testing.T) *rig {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg, []string{"consult", "legal_aid", "mediation", "notary", "complaint"})
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{
		in:      &fakeInbound{called: "12348", offer: []byte("v=0"), events: make(chan Event, 8)},
		media:   newFakeMedia(),
		tickets: &memTickets{},
		reg:     reg,
	}
	r.svc = &Service{
		Tickets: r.tickets, Media: &fakeFactory{m: r.media}, Menu: menu(t),
		HotlineNumbers: []string{"12348"},
		RecordingPath:  func(id ticket.ID, _ time.Time) string { return "/rec/" + id + ".wav" },
		Metrics:        m, Now: time.Now, Log: slog.New(slog.DiscardHandler),
	}
	return r
}

func (r *rig) counter(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	return metrictest.Value(t, r.reg, name, labels...)
}

func str(o ticket.Optional) string { return string(o) }

func TestVoicemailAfterKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		done := make(chan struct{})
		go func() { r.svc.Handle(context.Background(), r.in); close(done) }()
		time.Sleep(500 * time.Millisecond) // during the welcome
		r.media.digits <- '2'              // legal aid, barge-in
		synctest.Wait()
		// The voicemail invitation plays; its key skips to the beep. Wait through it.
		time.Sleep(3 * time.Second)
		time.Sleep(5 * time.Second) // the message
		r.media.digits <- '#'
		<-done
		tk := r.tickets.get()
		if tk.IVRPath != "2" || tk.Category != "legal_aid" || tk.Priority != "normal" {
			t.Fatalf("IVR result on ticket: %+v", tk)
		}
		// Nobody logged in: straight to voicemail, never queued, no wait
		// (not the length of the message).
		if tk.QueuedAt != nil || tk.WaitSeconds != nil {
			t.Fatalf("a voicemail that never queued has queue times: queued_at %v wait %v", tk.QueuedAt, tk.WaitSeconds)
		}
		if str(tk.Outcome) != vocab.OutcomeVoicemail || !tk.Callback || tk.Recording == nil || *tk.Recording != "/api/tickets/T1/recording" {
			t.Fatalf("voicemail ticket: %+v", tk)
		}
		if str(tk.EndReason) != vocab.EndCompleted || tk.Status != vocab.StatusClosed || r.in.hangups != 1 || !r.media.closed {
			t.Fatalf("end: reason %s status %s hangups %d media closed %v", str(tk.EndReason), tk.Status, r.in.hangups, r.media.closed)
		}
		if r.media.recPath != "/rec/T1.wav" {
			t.Fatalf("recorded to %q", r.media.recPath)
		}
		if got := strings.Join(r.tickets.events, ","); got != "opened,updated,closed" {
			t.Fatalf("revisions %s, want opened,updated,closed", got)
		}
		if v := r.counter(t, "hotline_calls_offered_total", "queue", "legal_aid"); v != 1 {
			t.Fatalf("offered{legal_aid} = %v", v)
		}
		if v := r.counter(t, "hotline_active_calls"); v != 0 {
			t.Fatalf("active calls %v after the call", v)
		}
	})
}

// Recordings not writable: the caller hears the apology, the ticket is a
// callback marked recording_failed, not an abandon.
func TestVoicemailRecordingFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		r.media.recErr = errors.New("open /rec/T1.wav: permission denied")
		done := make(chan struct{})
		go func() { r.svc.Handle(context.Background(), r.in); close(done) }()
		time.Sleep(500 * time.Millisecond)
		r.media.digits <- '2'
		<-done
		tk := r.tickets.get()
		if str(tk.Outcome) != vocab.OutcomeVoicemail || !tk.Callback || !tk.RecordingFailed || tk.Recording != nil || tk.Status != vocab.StatusClosed {
			t.Fatalf("ticket: outcome %s callback %v recording_failed %v recording %v status %s", str(tk.Outcome), tk.Callback, tk.RecordingFailed, tk.Recording, tk.Status)
		}
		r.media.mu.Lock()
		played := strings.Join(r.media.played, " ")
		r.media.mu.Unlock()
		if !strings.Contains(played, "voicemail_failed goodbye") {
			t.Fatalf("caller heard %q, want the apology", played)
		}
		if v := r.counter(t, "hotline_voicemail_recording_failed_total"); v != 1 {
			t.Fatalf("recording_failed counter %v", v)
		}
		if v := r.counter(t, "hotline_calls_abandoned_total", "queue", "legal_aid", "stage", "queue"); v != 0 {
			t.Fatalf("counted as abandoned")
		}
	})
}

func TestHangupInIVR(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		done := make(chan struct{})
		go func() { r.svc.Handle(context.Background(), r.in); close(done) }()
		time.Sleep(1500 * time.Millisecond)
		r.in.events <- Event{Kind: EventHangup}
		<-done
		tk := r.tickets.get()
		if str(tk.Outcome) != vocab.OutcomeAbandoned || str(tk.AbandonStage) != vocab.StageIVR || str(tk.EndReason) != vocab.EndCallerHangup {
			t.Fatalf("ticket %+v", tk)
		}
		if r.in.hangups != 0 {
			t.Fatal("sent BYE to a caller who hung up")
		}
		if tk.QueuedAt != nil || tk.WaitSeconds != nil {
			t.Fatalf("an IVR abandon has queue times: %+v", tk)
		}
		if v := r.counter(t, "hotline_calls_abandoned_total", "queue", "consult", "stage", "ivr"); v != 1 {
			t.Fatalf("abandoned{consult,ivr} = %v", v)
		}
	})
}

func TestINFODigitRoutes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		done := make(chan struct{})
		go func() { r.svc.Handle(context.Background(), r.in); close(done) }()
		time.Sleep(time.Second)
		r.in.events <- Event{Kind: EventDigit, Digit: '9'} // green channel by SIP INFO
		time.Sleep(4 * time.Second)
		r.in.events <- Event{Kind: EventHangup} // during the recording
		<-done
		tk := r.tickets.get()
		if tk.IVRPath != "9" || tk.Category != "legal_aid" || tk.Priority != "green" {
			t.Fatalf("INFO digit not routed: %+v", tk)
		}
	})
}

func TestHangupBeforeBeepIsQueueAbandon(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		done := make(chan struct{})
		go func() { r.svc.Handle(context.Background(), r.in); close(done) }()
		time.Sleep(500 * time.Millisecond)
		r.media.digits <- '1'
		time.Sleep(500 * time.Millisecond) // in the voicemail invitation
		r.in.events <- Event{Kind: EventHangup}
		<-done
		tk := r.tickets.get()
		// Nobody logged in: it went to the voicemail invitation without
		// queueing, so it has no queue wait.
		if str(tk.Outcome) != vocab.OutcomeAbandoned || str(tk.AbandonStage) != vocab.StageQueue || tk.WaitSeconds != nil || tk.QueuedAt != nil {
			t.Fatalf("ticket %+v", tk)
		}
	})
}

func TestMediaTimeoutEndsCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		done := make(chan struct{})
		go func() { r.svc.Handle(context.Background(), r.in); close(done) }()
		time.Sleep(2 * time.Second)
		close(r.media.done)
		<-done
		tk := r.tickets.get()
		if str(tk.EndReason) != vocab.EndRTPTimeout || str(tk.Outcome) != vocab.OutcomeAbandoned || r.in.hangups != 1 {
			t.Fatalf("rtp timeout: ticket %+v hangups %d", tk, r.in.hangups)
		}
	})
}

func TestShutdownInterruptsHonestly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { r.svc.Handle(ctx, r.in); close(done) }()
		time.Sleep(2 * time.Second)
		cancel()
		<-done
		tk := r.tickets.get()
		if str(tk.Outcome) != vocab.OutcomeInterrupted || str(tk.EndReason) != vocab.EndShutdown || r.in.hangups != 1 {
			t.Fatalf("shutdown: ticket %+v hangups %d", tk, r.in.hangups)
		}
		// offered counts every ticket that is not rejected (SPEC §9).
		if v := r.counter(t, "hotline_calls_offered_total", "queue", "consult"); v != 1 {
			t.Fatalf("offered{consult} = %v for a call cut in the IVR", v)
		}
	})
}

func TestRejections(t *testing.T) {
	for _, tc := range []struct {
		name   string
		setup  func(r *rig)
		code   int
		reason string
		ticket bool
	}{
		{"unknown number", func(r *rig) { r.in.called = "99999" }, 404, vocab.EndUnknownNumber, true},
		{"no common codec", func(r *rig) { r.svc.Media = &fakeFactory{err: fmt.Errorf("%w: G729 only", ErrNoCommonCodec)} }, 488, vocab.EndNoCommonCodec, true},
		{"media failure", func(r *rig) { r.svc.Media = &fakeFactory{err: errors.New("no free port")} }, 503, vocab.EndMediaError, true},
		{"ticket store down", func(r *rig) { r.tickets.openErr = errors.New("disk full") }, 500, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			tc.setup(r)
			r.svc.Handle(context.Background(), r.in)
			if r.in.rejected != tc.code || r.in.answered {
				t.Fatalf("rejected %d answered %v, want %d", r.in.rejected, r.in.answered, tc.code)
			}
			if !tc.ticket {
				if r.tickets.t != nil {
					t.Fatal("ticket exists")
				}
				return
			}
			tk := r.tickets.get()
			if str(tk.Outcome) != vocab.OutcomeRejected || str(tk.EndReason) != tc.reason || tk.Status != vocab.StatusClosed {
				t.Fatalf("ticket %+v", tk)
			}
		})
	}
}
