package ticket

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A refused push keeps why the receiver refused: the start of its reply,
// on one line, bounded, valid UTF-8 (the wallboard shows it with the dead
// letter).
func TestPushKeepsTheReceiversReply(t *testing.T) {
	for _, c := range []struct{ name, body, want string }{
		{"json", "{\"error\":\n\"category: unknown\"}", `receiver answered 422 Unprocessable Entity: {"error": "category: unknown"}`},
		{"empty", "", "receiver answered 422 Unprocessable Entity"},
		{"long", strings.Repeat("错", 200), "receiver answered 422 Unprocessable Entity: " + strings.Repeat("错", 100) + "…"},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusUnprocessableEntity)
			_, _ = w.Write([]byte(c.body))
		}))
		p := &Pusher{URL: srv.URL, Secret: []byte("k"), Client: srv.Client(), Now: time.Now}
		retry, err := p.Push(context.Background(), OutboxRow{TicketID: "T1", Revision: 1, Body: []byte(`{}`)})
		srv.Close()
		if retry || err == nil || err.Error() != c.want {
			t.Errorf("%s: retry %v, error %q, want %q", c.name, retry, err, c.want)
		}
	}
}
