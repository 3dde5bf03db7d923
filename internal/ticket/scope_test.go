package ticket

import (
	"context"
	"slices"
	"testing"

	"github.com/hotline12348/hotline/internal/vocab"
)

// TestListScope: a scoped list holds exactly the operator's tickets — their
// seat's, the ones named, the current caller's, the pending callbacks —
// and the other filters still apply on top.
func TestListScope(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	open := func(caller string, fn func(t *Ticket)) string {
		tk := &Ticket{CallID: caller + "@x", Caller: caller, Called: "12348"}
		if err := s.Open(ctx, tk); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Update(ctx, tk.ID, func(t *Ticket) error { fn(t); return nil }); err != nil {
			t.Fatal(err)
		}
		return tk.ID
	}
	closed := func(seat string, cb bool, disp string) func(t *Ticket) {
		return func(t *Ticket) {
			t.Status, t.SeatID, t.Callback, t.Disposition = vocab.StatusClosed, Optional(seat), cb, disp
		}
	}
	mine := open("13800000001", closed("8001", false, ""))
	other := open("13800000002", closed("8002", false, ""))
	pending := open("13800000003", closed("", true, ""))
	done := open("13800000004", closed("", true, "answered"))
	named := open("13800000005", closed("", false, ""))
	current1 := open("13800000006", closed("8003", false, ""))
	current2 := open("13800000006", closed("8004", false, ""))

	ids := func(f Filter) []string {
		t.Helper()
		list, err := s.List(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, tk := range list {
			out = append(out, tk.ID)
		}
		slices.Sort(out)
		return out
	}
	sorted := func(v ...string) []string { slices.Sort(v); return v }

	sc := &Scope{SeatID: "8001", IDs: []string{named}, Caller: "13800000006", PendingCallbacks: true}
	if got, want := ids(Filter{Scope: sc}), sorted(mine, pending, named, current1, current2); !slices.Equal(got, want) {
		t.Errorf("scoped list = %v, want %v (not %s, %s)", got, want, other, done)
	}
	// A search by a number outside the scope finds nothing.
	if got := ids(Filter{Scope: sc, Caller: "13800000002"}); len(got) != 0 {
		t.Errorf("search for another seat's caller = %v, want none", got)
	}
	if got := ids(Filter{Scope: sc, Caller: "13800000004"}); len(got) != 0 {
		t.Errorf("search for a written-up callback's caller = %v, want none", got)
	}
	if got, want := ids(Filter{Scope: sc, Caller: "13800000003"}), []string{pending}; !slices.Equal(got, want) {
		t.Errorf("search for a pending callback's caller = %v, want %v", got, want)
	}
	if got := ids(Filter{Scope: &Scope{}}); len(got) != 0 {
		t.Errorf("empty scope = %v, want none", got)
	}
	if got := ids(Filter{}); len(got) != 7 {
		t.Errorf("unscoped list has %d tickets, want 7", len(got))
	}
}
