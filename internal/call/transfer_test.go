package call

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
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
