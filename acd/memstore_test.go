package acd

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestMemoryStoreOrder(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	tests := []struct {
		name    string
		calls   []Call
		offer   []string // offered to seat "s"
		remove  []string
		want    []string // Entries() order
		wantPos map[string]int
	}{
		{
			name: "green first, then time, ties by arrival",
			calls: []Call{
				{ID: "n1", Skill: "consult", Priority: PriorityNormal, EnqueuedAt: at(1)},
				{ID: "g1", Skill: "notary", Priority: PriorityGreen, EnqueuedAt: at(5)},
				{ID: "n2", Skill: "notary", Priority: PriorityNormal, EnqueuedAt: at(1)},
				{ID: "n0", Skill: "consult", Priority: PriorityNormal, EnqueuedAt: at(0)}, // late but earlier: goes ahead
			},
			want:    []string{"g1", "n0", "n1", "n2"},
			wantPos: map[string]int{"g1": 1, "n0": 2, "n1": 3, "n2": 4},
		},
		{
			name: "offered calls keep their place, without a position",
			calls: []Call{
				{ID: "a", Skill: "consult", Priority: PriorityNormal, EnqueuedAt: at(1)},
				{ID: "b", Skill: "consult", Priority: PriorityNormal, EnqueuedAt: at(2)},
				{ID: "c", Skill: "mediation", Priority: PriorityNormal, EnqueuedAt: at(3)},
			},
			offer:   []string{"a"},
			want:    []string{"a", "b", "c"},
			wantPos: map[string]int{"a": 0, "b": 1, "c": 2},
		},
		{
			name:    "remove head, middle, tail",
			calls:   seqCalls(9),
			remove:  []string{"c0", "c4", "c8"},
			want:    []string{"c1", "c2", "c3", "c5", "c6", "c7"},
			wantPos: map[string]int{"c1": 1, "c7": 6, "c0": 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMemoryStore()
			for _, c := range tt.calls {
				if _, err := m.Add(c); err != nil {
					t.Fatal(err)
				}
			}
			for _, id := range tt.offer {
				e, _ := m.Entry(id)
				e.Seat = "s"
				if err := m.PutEntry(e); err != nil {
					t.Fatal(err)
				}
			}
			for _, id := range tt.remove {
				if err := m.Remove(id); err != nil {
					t.Fatal(err)
				}
			}
			entries, _ := m.Entries()
			var got []string
			for _, e := range entries {
				got = append(got, e.ID)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Entries() %v, want %v", got, tt.want)
			}
			for id, want := range tt.wantPos {
				if p, _ := m.Position(id); p != want {
					t.Errorf("Position(%s) = %d, want %d", id, p, want)
				}
			}
			// Each FIFO pages out its waiting entries in order.
			queues, _ := m.Queues(nil)
			n := 0
			for _, q := range queues {
				var prev *Entry
				for skip := 0; ; skip += 2 {
					page, _ := m.Waiting(q.Key, skip, 2, nil)
					for _, e := range page {
						if e.Offered() || (prev != nil && compareEntries(prev, &e) >= 0) {
							t.Errorf("Waiting(%v) yields %+v after %+v", q.Key, e, prev)
						}
						prev = &e
						n++
					}
					if len(page) < 2 {
						break
					}
				}
			}
			if want := len(tt.want) - len(tt.offer); n != want {
				t.Errorf("Waiting yields %d entries, want %d", n, want)
			}
		})
	}
}

func seqCalls(n int) []Call {
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	var out []Call
	for i := range n {
		out = append(out, Call{ID: fmt.Sprintf("c%d", i), Skill: "consult", Priority: PriorityNormal, EnqueuedAt: t0.Add(time.Duration(i) * time.Second)})
	}
	return out
}

func TestMemoryStoreErrors(t *testing.T) {
	m := NewMemoryStore()
	e, err := m.Add(seqCalls(1)[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Add(seqCalls(1)[0]); !errors.Is(err, ErrDuplicateCall) {
		t.Errorf("Add twice: %v", err)
	}
	moved := e
	moved.EnqueuedAt = moved.EnqueuedAt.Add(-time.Second)
	if err := m.PutEntry(moved); !errors.Is(err, ErrPlaceChanged) {
		t.Errorf("PutEntry with a new place: %v", err)
	}
	for _, err := range []error{m.Remove("x"), m.PutEntry(Entry{Call: Call{ID: "x"}})} {
		if !errors.Is(err, ErrUnknownCall) {
			t.Errorf("unknown call: %v", err)
		}
	}
	if _, err := m.Seat("x"); !errors.Is(err, ErrUnknownSeat) {
		t.Errorf("unknown seat: %v", err)
	}
}
