package ticket

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Signature is the value of X-Hotline-Signature for body sent at timestamp
// ts (SPEC §7): "sha256=" + hex(HMAC-SHA256(secret, ts + "." + body)).
func Signature(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a signature of the work-order system (feedback) in
// constant time, and that ts is within maxSkew of now (a captured request
// cannot be replayed later).
func Verify(secret []byte, ts, sig string, body []byte, now time.Time, maxSkew time.Duration) error {
	if len(secret) == 0 {
		return errors.New("no shared secret configured")
	}
	sec, err := strconv.ParseInt(strings.TrimSpace(ts), 10, 64)
	if err != nil {
		return errors.New("bad or missing X-Hotline-Timestamp")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > maxSkew || d < -maxSkew {
		return fmt.Errorf("timestamp %s off by %s (more than %s)", ts, d.Round(time.Second), maxSkew)
	}
	want := Signature(secret, ts, body)
	if !hmac.Equal([]byte(want), []byte(strings.TrimSpace(sig))) {
		return errors.New("bad signature")
	}
	return nil
}

// Pusher posts revisions to the work-order system (SPEC §7).
type Pusher struct {
	URL    string
	Secret []byte
	Client *http.Client // its Timeout is workorder.timeout
	Now    func() time.Time
}

// PushError is a failed push. Its text never contains the URL or the secret.
type PushError struct {
	Status     int           // HTTP status, 0 when none came
	RetryAfter time.Duration // from a Retry-After header, 0 if none
	msg        string
}

func (e *PushError) Error() string { return e.msg }

// Push sends one revision. retryable says whether a later attempt may
// succeed: timeouts, refused connections, 408, 425, 429 and 5xx are; other
// 4xx are not. 2xx and 409 (already have it) are delivered: err is nil.
func (p *Pusher) Push(ctx context.Context, r OutboxRow) (retryable bool, err error) {
	ts := strconv.FormatInt(p.Now().Unix(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.URL, bytes.NewReader(r.Body))
	if err != nil {
		return false, &PushError{msg: "bad workorder.url"}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", fmt.Sprintf("%s/%d", r.TicketID, r.Revision))
	req.Header.Set("X-Hotline-Timestamp", ts)
	req.Header.Set("X-Hotline-Signature", Signature(p.Secret, ts, r.Body))
	req.Header.Set("User-Agent", "hotline12348")
	res, err := p.Client.Do(req)
	if err != nil {
		return true, &PushError{msg: describe(err)}
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	switch c := res.StatusCode; {
	case c >= 200 && c < 300, c == http.StatusConflict:
		return false, nil
	case c == http.StatusRequestTimeout, c == http.StatusTooEarly, c == http.StatusTooManyRequests, c >= 500:
		return true, &PushError{Status: c, RetryAfter: retryAfter(res.Header.Get("Retry-After"), p.Now()), msg: "receiver answered " + res.Status + replyExcerpt(body)}
	default:
		return false, &PushError{Status: c, msg: "receiver answered " + res.Status + replyExcerpt(body)}
	}
}

// maxReplyExcerpt bounds how much of the receiver's reply a failed push
// keeps (in last_error, shown to managers with the dead letter).
const maxReplyExcerpt = 300

// replyExcerpt is ": " and the start of the receiver's reply body, on one
// line, valid UTF-8, at most maxReplyExcerpt bytes; "" for an empty body.
// The receiver says why it refused (a field it does not accept, ...):
// the shift manager needs that to decide whether redelivering can help.
func replyExcerpt(b []byte) string {
	s := strings.ToValidUTF8(string(b), "")
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }), " ")
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	if len(s) > maxReplyExcerpt {
		cut := maxReplyExcerpt
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return ": " + s
}

// describe turns a transport error into text without the URL (url.Error
// puts the whole URL, query string included, in its message).
func describe(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "Client.Timeout") {
		return "timeout"
	}
	msg := err.Error()
	if i := strings.Index(msg, "dial tcp"); i >= 0 {
		// "dial tcp 10.0.0.5:443: connect: connection refused" keeps the
		// address of the receiver, which is configuration, not a secret.
		return msg[i:]
	}
	return msg
}

// maxRetryAfter bounds what a Retry-After may ask (the backoff caps the
// wait lower still): a huge number of seconds must not overflow.
const maxRetryAfter = 24 * time.Hour

// retryAfter reads RFC 9110 §10.2.3 Retry-After: seconds or an HTTP date,
// at most maxRetryAfter.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil && s >= 0 {
		return min(time.Duration(min(s, int64(maxRetryAfter/time.Second)))*time.Second, maxRetryAfter)
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), maxRetryAfter)
	}
	return 0
}
