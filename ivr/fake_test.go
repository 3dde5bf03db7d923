package ivr

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeChannel is a RecordingChannel on the synctest clock. Each prompt lasts
// lengths[name] (2 s when unlisted); everything that happens is logged as
// "<virtual time> <event>", so a test states the whole timeline.
type fakeChannel struct {
	t0       time.Time
	lengths  map[string]time.Duration
	digits   chan rune
	startErr error

	mu       sync.Mutex
	log      []string
	cur      *playback
	recStart time.Time
	plays    int
}

type playback struct {
	done  chan struct{}
	timer *time.Timer
}

// press is a key pressed at a virtual time after the start.
type press struct {
	at  time.Duration
	key rune
}

func newFake(t *testing.T, lengths map[string]time.Duration, presses []press) *fakeChannel {
	t.Helper()
	f := &fakeChannel{t0: time.Now(), lengths: lengths, digits: make(chan rune, 64)}
	presses = slices.Clone(presses)
	slices.SortStableFunc(presses, func(a, b press) int { return int(a.at - b.at) })
	go func() { // ends by itself: the buffer never fills in these tests
		for _, p := range presses {
			time.Sleep(time.Until(f.t0.Add(p.at)))
			f.digits <- p.key
		}
	}()
	return f
}

func (f *fakeChannel) logf(format string, args ...any) {
	f.log = append(f.log, fmt.Sprintf("%v ", time.Since(f.t0))+fmt.Sprintf(format, args...))
}

func (f *fakeChannel) length(name string) time.Duration {
	if d, ok := f.lengths[name]; ok {
		return d
	}
	return 2 * time.Second
}

func (f *fakeChannel) Play(prompts ...string) <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cur != nil {
		f.logf("replaced")
		f.stopLocked()
	}
	var total time.Duration
	for _, p := range prompts {
		total += f.length(p)
	}
	pb := &playback{done: make(chan struct{})}
	f.cur = pb
	f.plays++
	f.logf("play %s", strings.Join(prompts, " "))
	pb.timer = time.AfterFunc(total, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.cur == pb {
			f.cur = nil
			close(pb.done)
		}
	})
	return pb.done
}

func (f *fakeChannel) StopPlay() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cur != nil {
		f.logf("stop")
		f.stopLocked()
	}
}

func (f *fakeChannel) stopLocked() {
	f.cur.timer.Stop()
	close(f.cur.done)
	f.cur = nil
}

func (f *fakeChannel) Digits() <-chan rune { return f.digits }

func (f *fakeChannel) StartRecording() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.startErr != nil {
		return f.startErr
	}
	f.recStart = time.Now()
	f.logf("rec start")
	return nil
}

func (f *fakeChannel) StopRecording() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logf("rec stop")
	return time.Since(f.recStart)
}

func (f *fakeChannel) events() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.log)
}

// hangupAt returns a context cancelled at virtual time at (never when 0).
func hangupAt(t *testing.T, at time.Duration) context.Context {
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	if at > 0 {
		timer := time.AfterFunc(at, cancel)
		t.Cleanup(func() { timer.Stop() })
	}
	return ctx
}

func diffLog(t *testing.T, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("timeline:\n got %q\nwant %q", got, want)
	}
}

var errNoDisk = errors.New("no disk")

// testMenu is configs/ivr.yaml written as Go (this package does not read YAML;
// internal/config tests that the file decodes and validates).
func testMenu() *Menu {
	return &Menu{
		Welcome:    []string{"welcome"},
		Prompts:    []string{"menu"},
		Invalid:    []string{"invalid"},
		Timeout:    5 * time.Second,
		RepeatKey:  "*",
		MaxRepeats: 3,
		MaxInvalid: 1,
		General:    Route{Category: Consult},
		Routes: map[string]Route{
			"1": {Category: Consult},
			"2": {Category: LegalAid},
			"3": {Category: Mediation},
			"4": {Category: Notary},
			"5": {Category: Complaint},
			"9": {Category: LegalAid, Priority: Green},
			"0": {Category: Consult},
		},
		Queue: QueueAnnouncer{
			Wait:           []string{"queue_wait"},
			Announcements:  []string{"legal_info_1", "legal_info_2", "legal_info_3", "legal_info_4"},
			PositionBefore: []string{"queue_position_before"},
			PositionAfter:  []string{"queue_position_after"},
			AllBusy:        []string{"all_busy"},
			Connecting:     []string{"seat_connecting"},
		},
		Voicemail: Voicemail{
			Prompts:   []string{"voicemail"},
			Beep:      Beep,
			MaxLength: 120 * time.Second,
			EndKey:    "#",
			Saved:     []string{"voicemail_saved", "goodbye"},
			Failed:    []string{"voicemail_failed", "goodbye"},
		},
		Survey: Survey{
			Prompts:    []string{"survey"},
			Scores:     map[string]int{"1": 1, "2": 2, "3": 3},
			Timeout:    8 * time.Second,
			Invalid:    []string{"survey_invalid"},
			MaxRetries: 1,
			Thanks:     []string{"survey_thanks"},
		},
	}
}
