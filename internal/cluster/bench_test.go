package cluster

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hotline12348/hotline/acd"
	"github.com/hotline12348/hotline/agent"
)

// BenchmarkClaim measures a claim — an operator going ready and the ACD
// offering them the head of the queue, decided and written atomically — on
// the shared ACD (a real redis-server on loopback, three nodes, the waiting
// calls spread over them) against the single-node memory ACD, with 10,000
// callers waiting. Each iteration is one claim and one ring-out (which
// sends the call back to the head), the same two steps on both, issued by
// the three nodes in turn. It reports p50/p99 of the claim step alone.
//
//	go test -run '^$' -bench BenchmarkClaim -benchtime 3000x ./internal/cluster/
func BenchmarkClaim(b *testing.B) {
	for _, waiting := range []int{100, 10000} {
		b.Run(fmt.Sprintf("memory/%d", waiting), func(b *testing.B) {
			a, err := acd.New(acd.Config{MaxWait: 24 * time.Hour, SkillFallback: time.Hour}, seatSpecs("8001"), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer a.Close()
			ok(b, a.SeatRegistered("8001"))
			ok(b, a.SetState("8001", agent.NotReady, "break"))
			chans := map[string]<-chan acd.Event{}
			for i := range waiting {
				id := fmt.Sprintf("c%05d", i)
				ch, err := a.Enqueue(acd.Call{ID: id, Skill: allSkills[i%5]})
				if err != nil {
					b.Fatal(err)
				}
				chans[id] = ch
			}
			claim := func() { ok(b, a.SetState("8001", agent.Ready, "")) }
			offered := func() (string, uint64) {
				s, _ := a.Seat("8001")
				<-chans[s.CallID] // the call reads its offer, as the call layer does
				return s.CallID, s.Token
			}
			ringOut := func(id string, tok uint64) { ok(b, a.NoAnswer(id, "8001", tok)) }
			measure(b, claim, offered, ringOut)
		})
		b.Run(fmt.Sprintf("redis-3-nodes/%d", waiting), func(b *testing.B) {
			rdb := newRedis(b)
			clk := newClock()
			cfg := acd.Config{MaxWait: 24 * time.Hour, SkillFallback: time.Hour}
			seats := seatSpecs("8001")
			nodes := []*Node{manualNode(b, rdb, "a", clk, cfg, seats), manualNode(b, rdb, "b", clk, cfg, seats), manualNode(b, rdb, "c", clk, cfg, seats)}
			bind(b, nodes[0], clk, "8001")
			ok(b, nodes[0].SetState("8001", agent.NotReady, "break"))
			for i := range waiting {
				if _, err := nodes[i%3].Enqueue(acd.Call{ID: fmt.Sprintf("c%05d", i), Skill: allSkills[i%5]}); err != nil {
					b.Fatal(err)
				}
			}
			// Manual nodes deliver no events unless pumped: nothing fills up.
			i := 0
			claim := func() {
				i++
				ok(b, nodes[i%3].SetState("8001", agent.Ready, ""))
			}
			offered := func() (string, uint64) {
				s, err := nodes[0].Seat("8001")
				ok(b, err)
				return s.CallID, s.Token
			}
			ringOut := func(id string, tok uint64) {
				// The call's own node reports the ring-out.
				owner := nodes[0]
				for _, n := range nodes {
					n.mu.Lock()
					_, mine := n.calls[id]
					n.mu.Unlock()
					if mine {
						owner = n
					}
				}
				ok(b, owner.NoAnswer(id, "8001", tok))
			}
			measure(b, claim, offered, ringOut)
		})
	}
}

func measure(b *testing.B, claim func(), offered func() (string, uint64), ringOut func(string, uint64)) {
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		claim()
		lat = append(lat, time.Since(t0))
		id, tok := offered()
		if id == "" {
			b.Fatal("nothing offered")
		}
		ringOut(id, tok)
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "claims/s")
}

// BenchmarkClaimParallel: three nodes claim at once, each for its own seat
// (an operator going ready, offered the head of the queue, letting it ring
// out), with 10,000 callers waiting: the claims the Redis server serialises
// per second, and the latency of a claim under that contention.
//
//	go test -run '^$' -bench BenchmarkClaimParallel -benchtime 6000x ./internal/cluster/
func BenchmarkClaimParallel(b *testing.B) {
	rdb := newRedis(b)
	clk := newClock()
	cfg := acd.Config{MaxWait: 24 * time.Hour, SkillFallback: time.Hour}
	seats := seatSpecs("8001", "8002", "8003")
	nodes := []*Node{manualNode(b, rdb, "a", clk, cfg, seats), manualNode(b, rdb, "b", clk, cfg, seats), manualNode(b, rdb, "c", clk, cfg, seats)}
	for i, n := range nodes {
		id := string(seats[i].ID)
		bind(b, n, clk, id)
		ok(b, n.SetState(agent.SeatID(id), agent.NotReady, "break"))
	}
	for i := range 10000 {
		if _, err := nodes[i%3].Enqueue(acd.Call{ID: fmt.Sprintf("c%05d", i), Skill: allSkills[i%5]}); err != nil {
			b.Fatal(err)
		}
	}
	owner := func(id string) *Node {
		for _, n := range nodes {
			n.mu.Lock()
			_, mine := n.calls[id]
			n.mu.Unlock()
			if mine {
				return n
			}
		}
		return nodes[0]
	}
	per := b.N/3 + 1
	lats := make([][]time.Duration, 3)
	var wg sync.WaitGroup
	b.ResetTimer()
	for i, n := range nodes {
		seat := seats[i].ID
		wg.Go(func() {
			for range per {
				t0 := time.Now()
				if err := n.SetState(seat, agent.Ready, ""); err != nil {
					b.Error(err)
					return
				}
				lats[i] = append(lats[i], time.Since(t0))
				s, err := n.Seat(seat)
				if err != nil || s.CallID == "" {
					b.Errorf("seat %s: %+v %v", seat, s, err)
					return
				}
				if err := owner(s.CallID).NoAnswer(s.CallID, seat, s.Token); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	all := slices.Concat(lats...)
	slices.Sort(all)
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(len(all))/b.Elapsed().Seconds(), "claims/s")
}
