package app

import (
	"github.com/hotline12348/hotline/internal/adapt"
	"github.com/hotline12348/hotline/internal/call"
	"github.com/hotline12348/hotline/internal/config"
)

// buildTransfers makes the call transfers of transfer.targets (SPEC §9a):
// the only destinations a transfer or a seat's REFER may reach.
func buildTransfers(cfg *config.Config, p *parts, trunk *adapt.TrunkDialer) (*call.Transfers, error) {
	targets := make([]call.TransferTarget, 0, len(cfg.Transfer.Targets))
	for _, t := range cfg.Transfer.Targets {
		targets = append(targets, call.TransferTarget{Name: t.Name, Number: t.Number, Queue: t.Queue, Seat: t.Seat})
	}
	var outside call.OutsideDialer
	if cfg.Transfer.Trunk != "" {
		outside = trunk
	}
	x, err := call.NewTransfers(p.reg, targets, outside)
	if err != nil {
		return nil, err
	}
	x.Floor = p.floor // a seat target is asked first, and held while it talks
	return x, nil
}
