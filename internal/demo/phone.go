package demo

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/hotline12348/hotline/configs"
	"github.com/hotline12348/hotline/internal/media"
	hsip "github.com/hotline12348/hotline/internal/sip"
)

// allowMethods is what the simulated phones accept.
const allowMethods = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE"

// phoneUA is one SIP endpoint of the simulation: a sipgo user agent
// listening on its own UDP port on 127.0.0.1 and sending every request from
// that port (symmetric, like a real phone), so the switch answers and calls
// back where the packets come from.
type phoneUA struct {
	ua     *sipgo.UserAgent
	srv    *sipgo.Server
	client *sipgo.Client
	conn   net.PacketConn
	addr   netip.AddrPort
	served chan struct{} // closed when the listener stops; nil before serve
}

func newPhoneUA(name string, log *slog.Logger) (*phoneUA, error) {
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo: %s: listen: %w", name, err)
	}
	addr, err := netip.ParseAddrPort(conn.LocalAddr().String())
	if err != nil {
		conn.Close()
		return nil, err
	}
	sipgoLog := hsip.RedactingLogger(log.With("component", "demo-sipgo"))
	ua, err := sipgo.NewUA(sipgo.WithUserAgent(name), sipgo.WithUserAgentHostname("127.0.0.1"),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(sipgoLog)),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(sipgoLog)))
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("demo: %s: %w", name, err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(sipgoLog))
	if err != nil {
		ua.Close()
		conn.Close()
		return nil, fmt.Errorf("demo: %s: %w", name, err)
	}
	client, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"),
		sipgo.WithClientConnectionAddr(addr.String()), sipgo.WithClientLogger(sipgoLog))
	if err != nil {
		ua.Close()
		conn.Close()
		return nil, fmt.Errorf("demo: %s: %w", name, err)
	}
	srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
		res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
		res.AppendHeader(sip.NewHeader("Allow", allowMethods))
		_ = tx.Respond(res)
	})
	return &phoneUA{ua: ua, srv: srv, client: client, conn: conn, addr: addr}, nil
}

// serve starts reading the socket and waits until requests can be sent
// from it (sipgo registers the listener as a connection once it serves).
func (p *phoneUA) serve(ctx context.Context) error {
	p.served = make(chan struct{})
	go func() {
		defer close(p.served)
		_ = p.srv.ServeUDP(p.conn)
	}()
	for {
		if c, err := p.ua.TransportLayer().GetConnection("udp", p.addr.String()); err == nil && c != nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.served:
			return fmt.Errorf("demo: SIP listener %s stopped", p.addr)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (p *phoneUA) close() {
	_ = p.ua.Close()
	_ = p.conn.Close()
	if p.served != nil {
		<-p.served
	}
}

// contact is the phone's Contact: user at its listening address.
func (p *phoneUA) contact(user string) *sip.ContactHeader {
	return &sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: p.addr.Addr().String(), Port: int(p.addr.Port())}}
}

func respond(tx sip.ServerTransaction, req *sip.Request, code int, reason string) {
	_ = tx.Respond(sip.NewResponseFromRequest(req, code, reason, nil))
}

// voices are the sounds the simulated people make.
type voices struct {
	// operator: the seats speak the hotline's own legal-information
	// recordings (configs/prompts/zh/legal_info_*.wav), so a recording of a
	// demo call sounds like an operator explaining the law.
	operator []*media.Prompt
	// citizen: a quiet two-tone murmur, on and off like speech, so the
	// recording's left channel is audibly the caller and the switch sees RTP.
	citizen *media.Prompt
}

func loadVoices() (voices, error) {
	var v voices
	pfs := configs.PromptsZH()
	names, err := fs.Glob(pfs, "legal_info_*.wav")
	if err != nil || len(names) == 0 {
		return v, fmt.Errorf("demo: no legal_info prompts in the embedded prompt set")
	}
	for _, n := range names {
		p, err := media.LoadPromptWAV(pfs, n)
		if err != nil {
			return v, err
		}
		v.operator = append(v.operator, p)
	}
	v.citizen = murmur()
	return v, nil
}

// murmur is 2 s of 220+330 Hz at a low level, 1.3 s on and 0.7 s off.
func murmur() *media.Prompt {
	const rate = media.SampleRate
	pcm := make([]int16, 2*rate)
	on := rate * 13 / 10
	for i := range pcm {
		if i >= on {
			break
		}
		env := math.Min(1, math.Min(float64(i), float64(on-i))/float64(rate/50)) // 20 ms ramps
		t := float64(i) / rate
		v := 0.06 * env * (math.Sin(2*math.Pi*220*t) + 0.6*math.Sin(2*math.Pi*330*t))
		pcm[i] = int16(v * 32767)
	}
	return media.NewPrompt("demo-citizen", pcm)
}

// speak plays prompts on the leg one after another, starting at a random
// one, until ctx ends or the leg does.
func speak(ctx context.Context, leg *media.Leg, prompts []*media.Prompt, start int) {
	for i := start; ; i++ {
		done := leg.Play(prompts[i%len(prompts)])
		select {
		case <-ctx.Done():
			leg.StopPlay()
			return
		case <-leg.Done():
			return
		case <-done:
		}
	}
}

// lockedRand hands out independent random sources derived from one seed,
// one per goroutine (a *rand.Rand is not safe for concurrent use).
type lockedRand struct {
	mu sync.Mutex
	r  *rand.Rand
}

func newLockedRand(seed1, seed2 uint64) *lockedRand {
	return &lockedRand{r: rand.New(rand.NewPCG(seed1, seed2))}
}

func (l *lockedRand) child() *rand.Rand {
	l.mu.Lock()
	defer l.mu.Unlock()
	return rand.New(rand.NewPCG(l.r.Uint64(), l.r.Uint64()))
}

// sessionID is an SDP o= session id.
func sessionID(r *rand.Rand) uint64 { return r.Uint64N(1<<62) + 1 }

// keyLabel names a menu key for the log, as the shipped menu does.
func keyLabel(k rune) string {
	switch k {
	case '1':
		return "法律咨询"
	case '2':
		return "法律援助"
	case '3':
		return "人民调解"
	case '4':
		return "公证与司法鉴定"
	case '5':
		return "投诉与建议"
	case '9':
		return "农民工欠薪绿色通道"
	case '0':
		return "综合咨询"
	}
	return "no key"
}

func hostIsLocal(h string) bool {
	h = strings.Trim(h, "[]")
	if h == "" || h == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && (a.IsLoopback() || a.IsUnspecified())
}
