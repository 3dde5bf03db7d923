// Command rtpgaps reads a pcap of one RTP stream (as tcpdump -w wrote it) and
// prints how evenly it arrived: packets, mean and largest inter-arrival gap,
// gaps over 40 ms, RFC 3550 §A.8 interarrival jitter, sequence breaks. The
// load script uses it on a probe call at every load step.
//
//	go run ./bench/rtpgaps capture.pcap
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/hotline12348/hotline/internal/siptest"
)

type report struct {
	Packets     int     `json:"packets"`
	MeanGapMS   float64 `json:"mean_gap_ms"`
	MaxGapMS    float64 `json:"max_gap_ms"`
	GapsOver40  int     `json:"gaps_over_40ms"`
	JitterMS    float64 `json:"jitter_ms"`
	SeqBreaks   int     `json:"seq_breaks"`
	DurationSec float64 `json:"duration_s"`
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: rtpgaps capture.pcap")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pkts, err := siptest.ReadPCAP(f)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var (
		r        report
		prevAt   time.Duration
		prevTS   uint32
		prevSeq  uint16
		sumGap   time.Duration
		jitter   float64
		havePrev bool
	)
	for _, p := range pkts {
		rtp, ok := siptest.ParseRTP(p.Payload)
		if !ok || rtp.PT > 34 { // audio only, no events
			continue
		}
		if havePrev {
			gap := p.At - prevAt
			sumGap += gap
			r.MaxGapMS = max(r.MaxGapMS, float64(gap)/1e6)
			if gap > 40*time.Millisecond {
				r.GapsOver40++
			}
			if rtp.Seq != prevSeq+1 {
				r.SeqBreaks++
			}
			// RFC 3550 §A.8: D = (Rj - Ri) - (Sj - Si), in timestamp units (8 kHz).
			d := float64(gap)/float64(time.Second)*8000 - float64(int32(rtp.Timestamp-prevTS))
			if d < 0 {
				d = -d
			}
			jitter += (d - jitter) / 16
		}
		prevAt, prevTS, prevSeq, havePrev = p.At, rtp.Timestamp, rtp.Seq, true
		r.Packets++
	}
	if r.Packets > 1 {
		r.MeanGapMS = float64(sumGap) / float64(r.Packets-1) / 1e6
		r.DurationSec = prevAt.Seconds()
	}
	r.JitterMS = jitter / 8
	b, _ := json.Marshal(r)
	fmt.Println(string(b))
}
