package ticket

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

// FuzzPushReply: whatever the work-order system answers — any status, any
// Retry-After, any body — a push is classified as SPEC §7 says (2xx and 409
// delivered; 408, 425, 429 and 5xx retried; other codes dead), never
// panics, and the wait it asks for stays within the worker's bound.
func FuzzPushReply(f *testing.F) {
	for _, seed := range []struct {
		code int
		ra   string
		body string
	}{
		{201, "", `{"id":"WO-1"}`}, {409, "", ""}, {503, "120", "busy"}, {429, "Wed, 21 Oct 2015 07:28:00 GMT", ""},
		{500, "-5", ""}, {400, "", "bad"}, {302, "99999999999999999999", ""}, {425, "1e9", ""}, {599, " 3 ", ""},
	} {
		f.Add(seed.code, seed.ra, []byte(seed.body))
	}
	var (
		mu    sync.Mutex
		reply struct {
			code int
			ra   string
			body []byte
		}
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		code, ra, body := reply.code, reply.ra, reply.body
		mu.Unlock()
		if ra != "" {
			w.Header()["Retry-After"] = []string{ra}
		}
		w.WriteHeader(code)
		_, _ = w.Write(body)
	}))
	f.Cleanup(srv.Close)
	now := time.Unix(1_800_000_000, 0)
	p := &Pusher{URL: srv.URL, Secret: []byte("k"), Client: srv.Client(), Now: func() time.Time { return now }}
	w := &Worker{cfg: WorkerConfig{BaseBackoff: time.Second, MaxBackoff: 5 * time.Minute, MaxRetryAfter: time.Hour}, rand: func() float64 { return 0.999 }}
	f.Fuzz(func(t *testing.T, code int, ra string, body []byte) {
		if code < 200 || code > 599 {
			code = 200 + (abs(code) % 400)
		}
		if !validHeaderValue(ra) {
			ra = ""
		}
		mu.Lock()
		reply.code, reply.ra, reply.body = code, ra, body
		mu.Unlock()
		retry, err := p.Push(context.Background(), OutboxRow{TicketID: "20261126-083015-km-1-0042", Revision: 1, Body: []byte(`{}`)})
		delivered := code >= 200 && code < 300 || code == http.StatusConflict
		wantRetry := code == 408 || code == 425 || code == 429 || code >= 500
		switch {
		case delivered && err != nil, !delivered && err == nil:
			t.Fatalf("%d: err %v", code, err)
		case retry != wantRetry:
			t.Fatalf("%d: retryable %v", code, retry)
		}
		var pe *PushError
		if err != nil && (!errors.As(err, &pe) || pe.Status != code || pe.RetryAfter < 0) {
			t.Fatalf("%d %q: error %#v", code, ra, err)
		}
		if err != nil {
			if d := w.backoff(30, err); d < 0 || d > time.Hour {
				t.Fatalf("%d Retry-After %q: waits %v", code, ra, d)
			}
		}
	})
}

// FuzzVerify: a feedback signature is accepted only when it is the real
// one for that body and time, whatever the bytes.
func FuzzVerify(f *testing.F) {
	f.Add("1800000000", "sha256=00", []byte(`{"ticket_id":"x"}`))
	f.Add("", "", []byte(nil))
	f.Add("18e8", "sha256=", []byte("{}"))
	secret := []byte("feedback-secret")
	now := time.Unix(1_800_000_000, 0)
	f.Fuzz(func(t *testing.T, ts, sig string, body []byte) {
		err := Verify(secret, ts, sig, body, now, 5*time.Minute)
		if err == nil && sig != Signature(secret, ts, body) {
			t.Fatalf("accepted a signature that is not ours: ts %q sig %q", ts, sig)
		}
		if good := Signature(secret, ts, body); Verify(secret, ts, good, body, now, 5*time.Minute) == nil {
			if sec, perr := strconv.ParseInt(ts, 10, 64); perr != nil || now.Sub(time.Unix(sec, 0)).Abs() > 5*time.Minute {
				t.Fatalf("accepted timestamp %q", ts)
			}
		}
	})
}

func abs(n int) int {
	if n < 0 {
		if n == -n { // math.MinInt
			return 0
		}
		return -n
	}
	return n
}

// validHeaderValue: what net/http lets a handler write as a header value.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return len(v) < 1000
}
