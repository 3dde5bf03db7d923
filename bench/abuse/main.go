// Command abuse is the hostile part of the soak test (bench/soak.sh): for
// as long as it runs it sends a hotline, on loopback only, what an attacker
// on its network would — garbage datagrams from many source addresses,
// SIP scans (OPTIONS, REGISTER with wrong passwords) from a few, TCP
// connections left idle or half-sent, and wrong console logins — at a
// bounded rate, and prints what it sent.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	sip := flag.String("sip", "127.0.0.1:5060", "the hotline's SIP address (UDP and TCP)")
	web := flag.String("http", "127.0.0.1:8080", "the hotline's HTTP address")
	rate := flag.Int("rate", 200, "garbage datagrams per second")
	d := flag.Duration("for", 30*time.Minute, "how long")
	flag.Parse()
	if !strings.HasPrefix(*sip, "127.") || !strings.HasPrefix(*web, "127.") {
		fmt.Fprintln(os.Stderr, "abuse: loopback targets only")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *d)
	defer cancel()
	var garbage, scans, tcp, logins atomic.Int64
	var wg sync.WaitGroup
	every := func(period time.Duration, fn func(r *rand.Rand)) {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
			t := time.NewTicker(period)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					fn(r)
				}
			}
		})
	}
	// Garbage from ever new 127.x.y.z sources: the per-source state an
	// attacker could make the switch keep.
	every(time.Second/time.Duration(max(*rate, 1)), func(r *rand.Rand) {
		src := &net.UDPAddr{IP: net.IPv4(127, byte(1+r.IntN(250)), byte(r.IntN(256)), byte(1+r.IntN(250)))}
		c, err := net.DialUDP("udp", src, udpAddr(*sip))
		if err != nil {
			return
		}
		b := make([]byte, 1+r.IntN(200))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		_, _ = c.Write(b)
		c.Close()
		garbage.Add(1)
	})
	// A scanner (sipvicious-like) from a handful of addresses: OPTIONS and
	// REGISTER with a wrong password.
	every(100*time.Millisecond, func(r *rand.Rand) {
		src := &net.UDPAddr{IP: net.IPv4(127, 0, 9, byte(1+r.IntN(8)))}
		c, err := net.DialUDP("udp", src, udpAddr(*sip))
		if err != nil {
			return
		}
		defer c.Close()
		user := 8000 + r.IntN(20)
		method := "OPTIONS"
		if r.IntN(2) == 0 {
			method = "REGISTER"
		}
		msg := fmt.Sprintf("%s sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK%d\r\nFrom: <sip:%d@12348.local>;tag=%d\r\n"+
			"To: <sip:%d@12348.local>\r\nCall-ID: scan-%d@x\r\nCSeq: 1 %s\r\nMax-Forwards: 70\r\nContact: <sip:%d@%s>\r\n"+
			"Authorization: Digest username=\"%d\", realm=\"12348.local\", nonce=\"x\", uri=\"sip:12348.local\", response=\"00000000000000000000000000000000\"\r\nContent-Length: 0\r\n\r\n",
			method, *sip, c.LocalAddr(), r.Int64(), user, r.Int64(), user, r.Int64(), method, user, c.LocalAddr(), user)
		_, _ = c.Write([]byte(msg))
		scans.Add(1)
	})
	// TCP connections that send half a message and stop, from one address.
	var held []net.Conn
	var mu sync.Mutex
	every(250*time.Millisecond, func(r *rand.Rand) {
		dialer := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 8, 1)}, Timeout: time.Second}
		c, err := dialer.DialContext(ctx, "tcp", *sip)
		if err != nil {
			return
		}
		_, _ = c.Write([]byte("INVITE sip:12348@x SIP/2.0\r\nVia: SIP/2.0/TCP x;branch=z9hG4bK1\r\nX-Pad: " + strings.Repeat("a", r.IntN(4000))))
		mu.Lock()
		held = append(held, c)
		if len(held) > 300 { // the attacker's own bound
			held[0].Close()
			held = held[1:]
		}
		mu.Unlock()
		tcp.Add(1)
	})
	// Wrong console logins.
	client := &http.Client{Timeout: 5 * time.Second}
	every(200*time.Millisecond, func(r *rand.Rand) {
		body := fmt.Sprintf(`{"username":"admin","password":"guess-%d"}`, r.Int64())
		res, err := client.Post("http://"+*web+"/api/login", "application/json", bytes.NewReader([]byte(body)))
		if err == nil {
			res.Body.Close()
		}
		logins.Add(1)
	})
	<-ctx.Done()
	wg.Wait()
	mu.Lock()
	for _, c := range held {
		c.Close()
	}
	mu.Unlock()
	fmt.Printf("abuse: %d garbage datagrams, %d scans, %d half-open TCP connections, %d wrong logins\n",
		garbage.Load(), scans.Load(), tcp.Load(), logins.Load())
}

func udpAddr(s string) *net.UDPAddr {
	a, err := net.ResolveUDPAddr("udp", s)
	if err != nil {
		fmt.Fprintln(os.Stderr, "abuse:", err)
		os.Exit(2)
	}
	return a
}
