package sip

import (
	"context"
	"net/netip"
	"sync"
	"time"
)

// Binding is where a seat can be reached: one per seat, the newest REGISTER
// replacing older ones.
type Binding struct {
	Seat      string
	Contact   string         // the Contact URI the seat registered
	Source    netip.AddrPort // where the REGISTER came from: send requests here
	Transport string         // "UDP", "TCP", … as sipgo names it
	UserAgent string
	Expires   time.Time
	CallID    string // RFC 3261 §10.3 step 7: orders REGISTERs of one Call-ID
	CSeq      uint32
	// Node is the cluster node whose socket received the REGISTER and
	// holds the seat's flow (SPEC §11); a call on another node reaches the
	// seat through it. Empty on a single node.
	Node string
}

// Bindings stores the seats' bindings. The in-memory store serves one node;
// a shared (Redis) store lets a call on one node reach a seat registered on
// another. A store may keep a binding past its Expires (the registrar
// treats it as gone and removes it), so a store with TTLs need not be exact.
type Bindings interface {
	// Put stores b as b.Seat's binding, replacing any other.
	Put(ctx context.Context, b Binding) error
	// Remove deletes the seat's binding; removing a missing one is no error.
	Remove(ctx context.Context, seat string) error
	// Get returns the seat's binding.
	Get(ctx context.Context, seat string) (Binding, bool, error)
	// List returns every binding, in no particular order.
	List(ctx context.Context) ([]Binding, error)
}

// MemoryBindings is a Bindings in a map, for a single node.
type MemoryBindings struct {
	mu sync.Mutex
	m  map[string]Binding
}

// NewMemoryBindings returns an empty in-memory store.
func NewMemoryBindings() *MemoryBindings { return &MemoryBindings{m: map[string]Binding{}} }

// Put implements Bindings.
func (s *MemoryBindings) Put(_ context.Context, b Binding) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[b.Seat] = b
	return nil
}

// Remove implements Bindings.
func (s *MemoryBindings) Remove(_ context.Context, seat string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, seat)
	return nil
}

// Get implements Bindings.
func (s *MemoryBindings) Get(_ context.Context, seat string) (Binding, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.m[seat]
	return b, ok, nil
}

// List implements Bindings.
func (s *MemoryBindings) List(_ context.Context) ([]Binding, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Binding, 0, len(s.m))
	for _, b := range s.m {
		out = append(out, b)
	}
	return out, nil
}
