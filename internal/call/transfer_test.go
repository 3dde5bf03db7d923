package call

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hotline12348/hotline/agent"
)

func testTransfers(t *testing.T, outside OutsideDialer) *Transfers {
	t.Helper()
	x, err := NewTransfers(prometheus.NewRegistry(), []TransferTarget{
		{Name: "法律援助中心", Number: "12348001"}, {Name: "人民调解", Queue: "mediation"}, {Name: "值班律师", Seat: "8006"},
	}, outside)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// Only configured targets match a REFER: by name, outside number or seat.
func TestTransferMatch(t *testing.T) {
	x := testTransfers(t, nil)
	for user, want := range map[string]string{"12348001": "法律援助中心", "8006": "值班律师", "人民调解": "人民调解", "mediation": "", "12348002": "", "": "", "8001": ""} {
		got, ok := x.Match(user)
		if got.Name != want || ok != (want != "") {
			t.Errorf("Match(%q) = %q %v, want %q", user, got.Name, ok, want)
		}
	}
}

// A request is judged before it reaches any call: an unlisted target, an
// unknown mode, a number without a trunk, a ticket without
// a live call.
func TestTransferRequestRefusals(t *testing.T) {
	x := testTransfers(t, nil)
	ctx := context.Background()
	for _, c := range []struct {
		target, mode string
		want         error
	}{
		{"12399999999", ModeBlind, ErrUnknownTarget},
		{"法律援助中心", ModeConference, ErrTargetFailed}, // no trunk either
		{"法律援助中心", "sideways", ErrBadMode},
		{"法律援助中心", ModeBlind, ErrTargetFailed}, // no trunk
		{"人民调解", ModeBlind, ErrNotLive},
	} {
		if err := x.Request(ctx, "T1", "transfer", c.target, c.mode, "8001", "console"); !errors.Is(err, c.want) {
			t.Errorf("%s %s: %v, want %v", c.target, c.mode, err, c.want)
		}
	}
	if err := x.Request(ctx, "T1", "complete", "", "", "8001", "console"); !errors.Is(err, ErrNotLive) {
		t.Errorf("complete: %v", err)
	}
	if n := testutil.ToFloat64(x.counter.WithLabelValues(ModeBlind, "unknown", XferRefused)); n != 1 {
		t.Errorf("refused counted %v, want 1", n)
	}
	var nilX *Transfers
	if err := nilX.Request(ctx, "T1", "transfer", "a", ModeBlind, "", ""); !errors.Is(err, ErrTransferDisabled) {
		t.Errorf("nil transfers: %v", err)
	}
	if _, ok := nilX.Operator("T1"); ok {
		t.Error("nil transfers has an operator")
	}
}

// seatFloor is a fake ACD floor of seat target 8006.
type seatFloor struct {
	seat agent.Seat
	sets []string
}

func (f *seatFloor) Seats() []agent.Seat { return []agent.Seat{f.seat} }
func (f *seatFloor) SetState(id agent.SeatID, st agent.State, reason string) error {
	f.seat.State, f.seat.Reason = st, reason
	f.sets = append(f.sets, string(st)+" "+reason)
	return nil
}

// A seat target is asked of the floor first: offline or busy is refused
// before anything is dialled; a free one is held (not_ready "transfer")
// while the transfer has it and made ready again after — unless its state
// changed meanwhile; a not_ready one is rung and left as it is.
func TestTransferSeatTargetHeld(t *testing.T) {
	x := testTransfers(t, nil)
	f := &seatFloor{seat: agent.Seat{ID: "8006"}}
	x.Floor = f
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	for st, want := range map[agent.State]error{agent.Offline: ErrTargetOffline, agent.Busy: ErrTargetBusy, agent.Ringing: ErrTargetBusy} {
		f.seat.State = st
		if err := x.Request(ctx, "T1", "transfer", "值班律师", ModeBlind, "8001", "console"); !errors.Is(err, want) {
			t.Errorf("seat target %s: %v, want %v", st, err, want)
		}
		if _, err := x.holdSeat("8006", log); !errors.Is(err, want) {
			t.Errorf("hold of a seat %s: %v, want %v", st, err, want)
		}
	}
	f.seat.State = agent.Ready
	if err := x.Request(ctx, "T1", "transfer", "值班律师", ModeBlind, "8001", "console"); !errors.Is(err, ErrNotLive) {
		t.Errorf("a free seat target, no live call: %v, want ErrNotLive", err)
	}
	release, err := x.holdSeat("8006", log)
	if err != nil || release == nil || f.seat.State != agent.NotReady || f.seat.Reason != ReasonTransfer {
		t.Fatalf("hold of a ready seat: %v, seat %+v", err, f.seat)
	}
	release()
	if f.seat.State != agent.Ready {
		t.Errorf("after the transfer the seat is %s, want ready", f.seat.State)
	}
	release, _ = x.holdSeat("8006", log)
	f.seat.Reason = "break" // the operator went on a break meanwhile
	release()
	if f.seat.State != agent.NotReady || f.seat.Reason != "break" {
		t.Errorf("a break taken during the transfer was undone: %+v", f.seat)
	}
	f.sets = nil
	if release, err := x.holdSeat("8006", log); err != nil || release != nil || len(f.sets) != 0 {
		t.Errorf("a not_ready seat: release %v err %v sets %v, want rung as it is", release != nil, err, f.sets)
	}
}
