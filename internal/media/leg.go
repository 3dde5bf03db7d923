package media

import (
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

// Tap receives the decoded audio a leg receives, one call per RTP packet, on
// the leg's reader goroutine. pcm is only valid during the call (copy it).
// at is the arrival time; ssrc and timestamp let a recorder see lost packets
// and silence-suppressed periods (RFC 3550 §5.1). The recordings package's
// recorders implement it. A Tap must be quick: it runs on the packet path.
type Tap interface {
	WritePCM(ssrc uint32, timestamp uint32, at time.Time, pcm []int16)
}

// LegStats is a snapshot of a leg's counters.
type LegStats struct {
	PacketsIn, BytesIn   uint64
	PacketsOut, BytesOut uint64 // paced and relayed
	Relayed              uint64 // packets relayed into this leg by a bridge
	Lost                 uint64 // gaps in received sequence numbers
	Dropped              uint64 // malformed, RTCP, or from a source we did not latch to (every dropReason)
	LastReceive          time.Time
	Latched              netip.AddrPort // source address we latched to (zero while learning)
	SendingTo            netip.AddrPort // where our RTP goes now
	SSRCOut              uint32
	SSRCIn               uint32 // last SSRC received
}

// rxParams is the part of SessionParams the reader needs, swapped atomically
// by Start/Update.
type rxParams struct {
	codecPT  uint8
	law      law
	dtmfPT   uint8
	receives bool // the peer is supposed to send (inactivity applies)
}

type tapBox struct{ t Tap }

// Leg is one RTP session with one peer: a bound UDP port, one reader
// goroutine, and a sender that a pacer drives (or a bridge, while bridged).
type Leg struct {
	e    *Engine
	log  *slog.Logger
	conn *net.UDPConn
	port int

	lifeMu  sync.Mutex // guards started/closed against each other
	started bool
	closed  bool
	wg      sync.WaitGroup
	stopOwn chan struct{} // PacerPerLeg goroutine stop

	ended   atomic.Bool // inactivity or closed: the pacer drops the leg
	endOnce sync.Once
	done    chan struct{}
	errMu   sync.Mutex
	err     error

	digits chan rune

	rxp atomic.Pointer[rxParams]
	// srtp is set on an SRTP leg (SessionParams.SRTP): its rx context is
	// the reader's, its tx context the sender's under txMu.
	srtp  atomic.Pointer[srtpContexts]
	tap   atomic.Pointer[tapBox]
	relay atomic.Pointer[relayLink] // set while bridged: where received packets go
	mix   atomic.Pointer[mixMember] // set while in a Mixer: where decoded audio goes
	// peers is where the peer was announced (never nil). Replaced, under
	// txMu, by an offer/answer that changes it: a new pointer is what tells
	// the reader to check its latch again.
	peers    atomic.Pointer[peerSet]
	lastRecv atomic.Int64 // engine ns of the last packet accepted
	quietRef atomic.Int64 // engine ns the inactivity clock counts from, if later than lastRecv
	ssrcIn   atomic.Uint32
	cnt      atomicCounters

	rx receiver // owned by the reader goroutine

	txMu sync.Mutex // the one-writer rule: held by whoever sends on this leg
	tx   sender
}

func newLeg(e *Engine, conn *net.UDPConn, port int, logger *slog.Logger) *Leg {
	l := &Leg{
		e:       e,
		log:     logger,
		conn:    conn,
		port:    port,
		done:    make(chan struct{}),
		digits:  make(chan rune, digitBuffer),
		stopOwn: make(chan struct{}),
	}
	// RFC 3550 §5.1: random initial SSRC, sequence number and timestamp
	// (math/rand/v2's generator is ChaCha8 seeded from the OS).
	l.tx.ssrc = rand.Uint32()
	l.tx.seq = uint16(rand.Uint32())
	l.tx.ts = rand.Uint32()
	l.tx.law = lawU
	l.tx.codecPT = CodecPCMU.PayloadType
	l.rxp.Store(&rxParams{codecPT: CodecPCMU.PayloadType, law: lawU})
	l.peers.Store(&peerSet{})
	return l
}

// LocalPort is the bound RTP port, for the SDP m= line.
func (l *Leg) LocalPort() int { return l.port }

// LocalAddr is BindIP:LocalPort.
func (l *Leg) LocalAddr() netip.AddrPort {
	return netip.AddrPortFrom(l.e.cfg.BindIP, uint16(l.port))
}

// Start applies the negotiated params, starts the reader and puts the leg on
// the pacer: from the next 20 ms tick it sends the current playback, or
// silence (so carriers never drop the call for lack of RTP). Calling Start
// again acts as Update.
func (l *Leg) Start(p SessionParams) {
	l.Update(p)
	l.lifeMu.Lock()
	defer l.lifeMu.Unlock()
	if l.started || l.closed || l.ended.Load() {
		return
	}
	l.started = true
	l.quietRef.Store(l.e.now())
	l.txMu.Lock()
	l.tx.started = true
	l.tx.marker = true
	l.txMu.Unlock()

	l.wg.Add(1)
	go l.readLoop()
	if l.e.cfg.PacerMode == PacerPerLeg {
		l.wg.Add(1)
		go l.runOwnPacer()
	} else {
		l.e.pickShard().add(l)
	}
}

// Update applies new params from a re-INVITE without interrupting media:
// the SSRC stays, sequence numbers and timestamps continue. p.Remote is
// where the peer now says it is: the leg keeps its latch if the source it
// latched to is still announced (a session refresh, a hold), and otherwise
// learns its peer again from the new addresses (see latch.go);
// until it has, RTP goes to p.Remote. A Remote of c=0.0.0.0 (RFC 3264 §8.4
// hold) stops our sending but does not move the peer. Hold/unhold follows
// the direction; a codec change takes effect on the next frame.
func (l *Leg) Update(p SessionParams) {
	lw := p.Codec.law()
	if p.Codec.Name == "" {
		lw = lawU
	}
	dir := p.Direction
	if dir == "" {
		dir = SendRecv
	}
	switch cur := l.srtp.Load(); {
	case p.SRTP == nil:
		l.srtp.Store(nil)
	case !cur.sameKeys(p.SRTP):
		c, err := newSRTPContexts(p.SRTP)
		if err != nil {
			// The offer/answer code checked the keys: this cannot happen.
			// Never fall back to clear audio: end the leg.
			l.log.Error("media: srtp keys refused, ending the leg", "error", err)
			l.end(err)
			return
		}
		l.srtp.Store(c)
	}
	old := l.rxp.Load()
	l.rxp.Store(&rxParams{codecPT: p.Codec.PayloadType, law: lw, dtmfPT: p.DTMFType, receives: dir.Receives()})
	if dir.Receives() && (old == nil || !old.receives) {
		// Leaving hold: the inactivity clock starts now.
		l.quietRef.Store(l.e.now())
	}

	l.txMu.Lock()
	defer l.txMu.Unlock()
	tx := &l.tx
	tx.codecPT = p.Codec.PayloadType
	tx.law = lw
	tx.dtmfPT = p.DTMFType
	tx.dir = dir
	tx.sdpDst = p.Remote
	l.expectLocked(p.Remote, l.peers.Load().sig)
}

// SetSignallingSource tells the leg the address its peer's SIP comes from:
// the trunk's INVITE source (the SBC), or the source of a seat's REGISTER
// (the registrar binding's Source). A peer behind NAT sends its RTP from
// there, on a port its NAT chose, whatever private address its SDP names
// (RFC 4961 symmetric RTP; RFC 4787 REQ-2: a NAT keeps one external address
// for all of a host's flows), so the leg also accepts and learns from this
// address on any port. Call it before Start (or Update); an invalid address
// clears it.
func (l *Leg) SetSignallingSource(src netip.Addr) {
	if src.IsValid() {
		src = src.Unmap().WithZone("")
	}
	l.txMu.Lock()
	defer l.txMu.Unlock()
	l.expectLocked(l.tx.sdpDst, src)
}

// expectLocked installs the peer's announced addresses and derives where we
// send: the latched source while it is still announced, else the SDP
// address, or nowhere until the peer's first packets when it looks NATed.
// txMu is held.
func (l *Leg) expectLocked(remote netip.AddrPort, sig netip.Addr) {
	tx := &l.tx
	cur := l.peers.Load()
	next := *cur
	if remote.IsValid() && remote.Port() != 0 {
		next.sdp = remote
	} // else c=0.0.0.0 or port 0: "do not send to me", not "I moved"
	next.sig = sig
	if next != *cur {
		l.peers.Store(&next)
		if tx.latched && !next.allows(tx.dst) {
			tx.latched = false
		}
	}
	if !tx.latched {
		tx.dst = next.sendTo()
	}
	tx.updateSendingLocked()
}

// updateSendingLocked recomputes whether the stream goes out: our direction
// allows it, the peer gave an address (not c=0.0.0.0), and we know where.
func (tx *sender) updateSendingLocked() {
	was := tx.sending
	tx.sending = tx.dir.Sends() && tx.sdpDst.IsValid() && tx.sdpDst.Port() != 0 && tx.dst.IsValid() && tx.dst.Port() != 0
	if tx.sending && !was {
		tx.marker = true // RFC 3551 §4.1: first packet of a talkspurt
	}
}

// Play replaces the current playback with these prompts, played in order,
// and returns a channel closed when they have all been sent or when the
// playback is stopped or replaced. With no prompts it just stops playback.
// While the leg is bridged, a playback only sounds when nothing is being
// relayed into the leg.
func (l *Leg) Play(prompts ...*Prompt) <-chan struct{} {
	done := make(chan struct{})
	list := make([]*Prompt, 0, len(prompts))
	for _, p := range prompts {
		if p != nil && p.Samples() > 0 {
			list = append(list, p)
		}
	}
	l.txMu.Lock()
	defer l.txMu.Unlock()
	l.tx.stopPlayLocked()
	if len(list) == 0 || l.tx.closed || l.ended.Load() {
		close(done)
		return done
	}
	l.tx.play = &playback{prompts: list, done: done}
	l.tx.marker = true // a new "talkspurt" starts with the prompt
	return done
}

// StopPlay stops the current playback (its channel closes); silence follows.
func (l *Leg) StopPlay() {
	l.txMu.Lock()
	l.tx.stopPlayLocked()
	l.txMu.Unlock()
}

// Digits delivers RFC 4733 key presses detected on this leg. It is buffered;
// when the reader finds it full the digit is dropped rather than blocking
// the media. It is closed by Close.
func (l *Leg) Digits() <-chan rune { return l.digits }

// Done is closed when the leg has ended (Err says why).
func (l *Leg) Done() <-chan struct{} { return l.done }

// Err is nil while the leg runs, then ErrInactivity or ErrClosed.
func (l *Leg) Err() error {
	l.errMu.Lock()
	defer l.errMu.Unlock()
	return l.err
}

func (l *Leg) end(err error) {
	l.endOnce.Do(func() {
		l.errMu.Lock()
		l.err = err
		l.errMu.Unlock()
		l.ended.Store(true)
		close(l.done)
		// Nobody will send the rest of a playback: release its waiters.
		l.txMu.Lock()
		l.tx.stopPlayLocked()
		l.txMu.Unlock()
	})
}

// SetTap installs (or with nil removes) the receive-side tap.
func (l *Leg) SetTap(t Tap) {
	if t == nil {
		l.tap.Store(nil)
		return
	}
	l.tap.Store(&tapBox{t: t})
}

// Stats returns the leg's counters.
func (l *Leg) Stats() LegStats {
	c := l.counters()
	s := LegStats{
		PacketsIn:  c.packetsIn,
		BytesIn:    c.bytesIn,
		PacketsOut: c.packetsOut,
		BytesOut:   c.bytesOut,
		Relayed:    c.relayed,
		Lost:       c.lost,
		Dropped:    c.droppedTotal(),
		SSRCIn:     l.ssrcIn.Load(),
	}
	if c.packetsIn > 0 {
		s.LastReceive = l.e.epoch.Add(time.Duration(l.lastRecv.Load()))
	}
	l.txMu.Lock()
	s.SSRCOut = l.tx.ssrc
	s.SendingTo = l.tx.dst
	if l.tx.latched {
		s.Latched = l.tx.dst
	}
	l.txMu.Unlock()
	return s
}

func (l *Leg) counters() legCounters { return l.cnt.load() }

// Close ends the leg (ErrClosed unless it already ended), stops its
// goroutines and waits for them, stops a bridge it is part of, closes the
// Digits channel and returns the port to the pool. Idempotent.
func (l *Leg) Close() error {
	l.lifeMu.Lock()
	if l.closed {
		l.lifeMu.Unlock()
		return nil
	}
	l.closed = true
	l.lifeMu.Unlock()

	l.end(ErrClosed)
	if link := l.relay.Load(); link != nil {
		link.br.stop()
	}
	err := l.conn.Close()
	close(l.stopOwn)
	l.wg.Wait() // reader and own pacer are gone: nobody sends on digits now

	l.txMu.Lock()
	l.tx.closed = true
	l.tx.stopPlayLocked()
	l.txMu.Unlock()
	close(l.digits)
	l.e.release(l)
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

// header is reused for every packet (pion's Unmarshal keeps the CSRC and
// extension slices' capacity), so parsing does not allocate.
type receiver struct {
	buf [maxPacket + 1]byte
	dec [maxPacket]byte // an SRTP packet decrypted
	hdr rtp.Header
	pcm [maxPacket]int16

	// Latching (see latch): the peer set the state below was decided
	// against, the source latched to, and the run being learned.
	peers          *peerSet
	latched        netip.AddrPort
	latchedValid   bool
	cand           netip.AddrPort
	candSSRC       uint32
	candSeq        uint16
	candRun        int
	strangerLogged bool

	ssrc      uint32
	ssrcValid bool
	maxSeq    uint16
	lost      uint64

	dtmf DTMFDetector
	// The RFC 4733 event last started while bridged: only its packets are
	// relayed, so the rest of a key pressed before the bridge (the menu
	// choice that queued the caller) never reaches the other phone.
	relayEvSSRC  uint32
	relayEvTS    uint32
	relayEvValid bool
}
