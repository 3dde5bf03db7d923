package app

import (
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline12348/hotline/acd"
	"github.com/hotline12348/hotline/agent"
	"github.com/hotline12348/hotline/internal/config"
	"github.com/hotline12348/hotline/internal/media"
)

// declinePause: a seat that declined a call gets it offered again no
// sooner than this when it is the only seat for it.
const declinePause = 5 * time.Second

// acdSettings are the configured seats and the ACD's parameters.
func acdSettings(cfg *config.Config) ([]agent.Seat, acd.Config) {
	seats := make([]agent.Seat, 0, len(cfg.Seats))
	for _, s := range cfg.Seats {
		if s.IsManager() {
			continue // a manager's phone is never offered ACD calls (SPEC §9a)
		}
		seats = append(seats, agent.New(agent.SeatID(s.ID), s.Name, s.Skills))
	}
	return seats, acd.Config{
		RingTimeout:   cfg.ACD.RingTimeout.D(),
		WrapUp:        cfg.ACD.WrapUp.D(),
		MaxWait:       cfg.ACD.MaxWait.D(),
		SkillFallback: cfg.ACD.SkillFallback.D(),
		DeclinePause:  declinePause,
	}
}

// srtpSeats are the seats configured with srtp: true.
func srtpSeats(cfg *config.Config) map[string]bool {
	m := map[string]bool{}
	for _, s := range cfg.Seats {
		if s.SRTP {
			m[s.ID] = true
		}
	}
	return m
}

// mediaCodecs are the configured codecs (media.codecs), in order.
func mediaCodecs(cfg *config.Config) []media.Codec {
	codecs := make([]media.Codec, 0, len(cfg.Media.Codecs))
	for _, n := range cfg.Media.Codecs {
		if c, ok := media.CodecByName(n); ok {
			codecs = append(codecs, c)
		}
	}
	return codecs
}

func newEngine(cfg *config.Config, log *slog.Logger, reg prometheus.Registerer) (*media.Engine, error) {
	bind, err := netip.ParseAddr(cfg.Media.BindIP)
	if err != nil {
		return nil, fmt.Errorf("app: media.bind_ip: %w", err)
	}
	var lo, hi int
	if _, err := fmt.Sscanf(cfg.Media.RTPPorts, "%d-%d", &lo, &hi); err != nil {
		return nil, fmt.Errorf("app: media.rtp_ports: %w", err)
	}
	return media.NewEngine(media.Config{
		BindIP:      bind,
		PortMin:     lo,
		PortMax:     hi,
		Inactivity:  cfg.Media.RTPTimeout.D(),
		PacerShards: cfg.Media.PacerShards,
	}, log.With("component", "media"), reg)
}
