// Command mkpcap writes the pcaps the load scripts play with SIPp:
// caller.pcap (1 s of sound, the key 1 by RFC 4733, then 120 s of a caller
// talking, PCMU) and seat.pcap (1 s of an operator's tone).
//
//	go run ./bench/mkpcap -out bench/out
package main

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/hotline12348/hotline/internal/siptest"
)

func main() {
	out := flag.String("out", "bench/out", "directory")
	flag.Parse()
	src, dst := netip.MustParseAddrPort("127.0.0.1:6000"), netip.MustParseAddrPort("127.0.0.1:9")
	caller := siptest.NewStream(src, dst, 0, 101, 0xCA11).
		Audio(siptest.Tone(time.Second, 0.05, 300)).
		Digit('1', 120*time.Millisecond).
		Audio(siptest.Tone(120*time.Second, 0.2, 600, 900))
	seat := siptest.NewStream(src, dst, 0, 101, 0x5EA7).Audio(siptest.Tone(time.Second, 0.2, 1400))
	for name, s := range map[string]*siptest.Stream{"caller.pcap": caller, "seat.pcap": seat} {
		f, err := os.Create(filepath.Join(*out, name))
		if err == nil {
			err = siptest.WritePCAP(f, s.Packets())
			f.Close()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	fmt.Println("wrote", filepath.Join(*out, "caller.pcap"), filepath.Join(*out, "seat.pcap"))
}
