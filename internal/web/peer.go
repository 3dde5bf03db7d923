package web

// Node-to-node HTTP (SPEC §11: "node-to-node HTTP signed with cluster.secret").
//
// A node calls another node's ordinary /api/ routes on behalf of a user
// logged in on it, with four headers:
//
//	X-Hotline-Node       the calling node's id
//	X-Hotline-Timestamp  unix seconds
//	X-Hotline-User       base64url (no padding) of the JSON auth.User
//	X-Hotline-Nonce      16 random bytes, base64url: makes each request unique
//	X-Hotline-Signature  sha256=<hex HMAC-SHA256(cluster.secret,
//	                     method "\n" path-with-query "\n" timestamp "\n"
//	                     node "\n" user-header "\n" [nonce "\n"]
//	                     hex(SHA-256(body)))>
//
// The receiving node takes the request as that user when the signature
// verifies (constant time) and the timestamp is within NodeSkew of its
// clock; otherwise the request needs a session like any other (a forged or
// stale signature is just a 401). Node-to-node calls add scope=node to the
// query: such a request is answered from the receiving node's own data and
// never fans out again. Each signature is taken once: the receiver keeps the
// signatures it accepted until their timestamp is out of NodeSkew, so a
// captured request replayed is refused (a node of an older version sends
// no nonce; its requests are still taken, once each). Still keep
// node-to-node traffic on the nodes' private network (or https): the
// requests carry personal data.

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hotline12348/hotline/internal/auth"
)

// Headers of a node-to-node request.
const (
	HeaderNode      = "X-Hotline-Node"
	HeaderTimestamp = "X-Hotline-Timestamp"
	HeaderUser      = "X-Hotline-User"
	HeaderSignature = "X-Hotline-Signature"
	HeaderNonce     = "X-Hotline-Nonce"
	// HeaderServedBy, on an answer one node relays from another, names the
	// node that answered.
	HeaderServedBy = "X-Hotline-Served-By"
)

// NodeSkew is how far a node request's timestamp may be from our clock.
const NodeSkew = 30 * time.Second

// maxNodeBody bounds the body of a signed request (it is read to be verified).
const maxNodeBody = 1 << 20

// NodeSignature is the X-Hotline-Signature of a node-to-node request.
func NodeSignature(secret []byte, method, pathQuery, ts, node, user, nonce string, body []byte) string {
	bodySum := sha256.Sum256(body)
	m := hmac.New(sha256.New, secret)
	parts := []string{method, pathQuery, ts, node, user}
	if nonce != "" { // an older node's request is signed without one
		parts = append(parts, nonce)
	}
	for _, part := range parts {
		m.Write([]byte(part))
		m.Write([]byte{'\n'})
	}
	m.Write([]byte(hex.EncodeToString(bodySum[:])))
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// SignNodeRequest sets the four headers that make req a request of node
// on behalf of u; body is exactly the request's body (nil for none).
func SignNodeRequest(req *http.Request, secret []byte, node string, u auth.User, body []byte, now time.Time) error {
	ub, err := json.Marshal(u)
	if err != nil {
		return fmt.Errorf("web: sign: %w", err)
	}
	user := base64.RawURLEncoding.EncodeToString(ub)
	ts := strconv.FormatInt(now.Unix(), 10)
	nonce := base64.RawURLEncoding.EncodeToString(randomBytes(16))
	req.Header.Set(HeaderNode, node)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderUser, user)
	req.Header.Set(HeaderNonce, nonce)
	req.Header.Set(HeaderSignature, NodeSignature(secret, req.Method, req.URL.RequestURI(), ts, node, user, nonce, body))
	return nil
}

// VerifyNodeRequest checks the signature of a node request whose body is
// body, and returns the user it acts for and the calling node.
func VerifyNodeRequest(r *http.Request, secret, body []byte, now time.Time) (auth.User, string, error) {
	node, ts, user, sig := r.Header.Get(HeaderNode), r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderUser), r.Header.Get(HeaderSignature)
	switch {
	case len(secret) == 0:
		return auth.User{}, "", errors.New("no cluster.secret")
	case node == "" || ts == "" || user == "" || sig == "":
		return auth.User{}, "", errors.New("incomplete node headers")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return auth.User{}, "", errors.New("bad timestamp")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > NodeSkew || d < -NodeSkew {
		return auth.User{}, "", fmt.Errorf("timestamp off by %s (more than %s)", d.Round(time.Second), NodeSkew)
	}
	uri := r.RequestURI
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	nonce := r.Header.Get(HeaderNonce)
	if len(nonce) > 64 {
		return auth.User{}, "", errors.New("bad nonce")
	}
	if !hmac.Equal([]byte(NodeSignature(secret, r.Method, uri, ts, node, user, nonce, body)), []byte(sig)) {
		return auth.User{}, "", errors.New("bad signature")
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(user, "="))
	if err != nil {
		return auth.User{}, "", errors.New("bad user header")
	}
	var u auth.User
	if err := json.Unmarshal(raw, &u); err != nil || u.Name == "" || !auth.ValidRole(u.Role) {
		return auth.User{}, "", errors.New("bad user header")
	}
	return u, node, nil
}

// PeerClient sends this node's requests to the other nodes: signed as a
// user (SignNodeRequest), never through a proxy of the environment, never
// following redirects, with bounded answers.
type PeerClient struct {
	Node   string // this node's id (X-Hotline-Node)
	Secret []byte // cluster.secret
	HTTP   *http.Client
	// MaxBody bounds an answer read by GetJSON [32 MiB].
	MaxBody int64
	Now     func() time.Time
}

// NewPeerClient returns a client with a 2 s connect and a 10 s
// response-header timeout; a whole request is bounded by its context.
func NewPeerClient(node string, secret []byte) *PeerClient {
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 10 * time.Second,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &PeerClient{
		Node: node, Secret: secret, MaxBody: 32 << 20, Now: time.Now,
		HTTP: &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}
}

// Do sends method base+pathQuery (base: the node's cluster.advertise_http)
// with body and the headers h, signed as u (u nil: not signed, for a
// request relayed verbatim). The caller closes the answer's body.
func (c *PeerClient) Do(ctx context.Context, method, base, pathQuery string, u *auth.User, body []byte, h http.Header) (*http.Response, error) {
	target := strings.TrimRight(base, "/") + pathQuery
	if pu, err := url.Parse(target); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		return nil, fmt.Errorf("web: peer address %q: want http(s)://host:port", base)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("web: peer request: %w", err)
	}
	if body == nil {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	for k, vs := range h {
		req.Header[k] = append([]string(nil), vs...)
	}
	if u != nil {
		if err := SignNodeRequest(req, c.Secret, c.Node, *u, body, c.Now()); err != nil {
			return nil, err
		}
	}
	return c.HTTP.Do(req)
}

// PeerError is a peer's answer other than 200.
type PeerError struct {
	Status int
	Msg    string
}

func (e *PeerError) Error() string { return fmt.Sprintf("answered %d: %s", e.Status, e.Msg) }

// GetJSON gets pathQuery from the node at base as u and decodes its 200
// answer into v.
func (c *PeerClient) GetJSON(ctx context.Context, base, pathQuery string, u auth.User, v any) error {
	res, err := c.Do(ctx, http.MethodGet, base, pathQuery, &u, nil, http.Header{"Accept": {"application/json"}})
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, c.MaxBody+1))
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if res.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(b, &e)
		return &PeerError{Status: res.StatusCode, Msg: e.Error}
	}
	if int64(len(b)) > c.MaxBody {
		return fmt.Errorf("answer larger than %d bytes", c.MaxBody)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	return nil
}

// CloseIdleConnections closes the idle connections to the other nodes.
func (c *PeerClient) CloseIdleConnections() { c.HTTP.CloseIdleConnections() }

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return b
}

// replayCache holds the signatures of the node requests taken, until
// their timestamp has left NodeSkew. Only requests whose signature
// verified are added, so only a holder of cluster.secret can fill it; it
// is bounded anyway (maxReplayEntries): when full of live entries, a new
// request is refused rather than a live entry forgotten.
type replayCache struct {
	mu        sync.Mutex
	seen      map[string]time.Time // signature → when it may be forgotten
	lastPrune time.Time
}

const maxReplayEntries = 200_000

// first records sig until until and reports whether it was new.
func (c *replayCache) first(sig string, until, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[string]time.Time{}
	}
	if _, dup := c.seen[sig]; dup {
		return false
	}
	if len(c.seen) >= maxReplayEntries || now.Sub(c.lastPrune) > NodeSkew {
		c.lastPrune = now
		for k, t := range c.seen {
			if !t.After(now) {
				delete(c.seen, k)
			}
		}
		if len(c.seen) >= maxReplayEntries {
			return false
		}
	}
	c.seen[sig] = until
	return true
}
