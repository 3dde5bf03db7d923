package config

import (
	"slices"

	"github.com/hotline12348/hotline/ivr"
)

// Transfer is where a call may be transferred to (SPEC §9a): the only
// destinations a transfer from the console or a seat's REFER may reach.
type Transfer struct {
	// Trunk is the SIP URI outside numbers are dialled through (the SBC),
	// e.g. "sip:127.0.0.1:5080"; empty: no outside number can be dialled.
	Trunk string `yaml:"trunk"`
	// CallerID is the number presented on outgoing legs (e.g. "12348").
	CallerID string           `yaml:"caller_id"`
	Targets  []TransferTarget `yaml:"targets"`
}

// TransferTarget is one named destination: exactly one of Number (an
// outside number, through Trunk), Queue (a skill: the call waits there
// again) or Seat (a seat's phone).
type TransferTarget struct {
	Name   string `yaml:"name"`
	Number string `yaml:"number"`
	Queue  string `yaml:"queue"`
	Seat   string `yaml:"seat"`
}

// Kind is "number", "queue" or "seat".
func (t TransferTarget) Kind() string {
	switch {
	case t.Number != "":
		return "number"
	case t.Queue != "":
		return "queue"
	default:
		return "seat"
	}
}

func (c *Config) transferProblems(p *Errors) {
	tr := c.Transfer
	if tr.Trunk != "" {
		if err := checkSIPURI(tr.Trunk); err != nil {
			p.add("transfer.trunk", "%q: %v", tr.Trunk, err)
		}
	}
	if tr.CallerID != "" && !isDigits(tr.CallerID) {
		p.add("transfer.caller_id", "%q: digits only (e.g. \"12348\")", tr.CallerID)
	}
	needCallerID := false
	for i, t := range tr.Targets {
		path := joinIndex("transfer.targets", i)
		if t.Name == "" {
			p.add(path+".name", "must not be empty")
		} else if j := slices.IndexFunc(tr.Targets, func(o TransferTarget) bool { return o.Name == t.Name }); j < i {
			p.add(path+".name", "%q: same as transfer.targets[%d]", t.Name, j)
		}
		n := 0
		for _, v := range []string{t.Number, t.Queue, t.Seat} {
			if v != "" {
				n++
			}
		}
		if n != 1 {
			p.add(path, "give exactly one of number, queue or seat")
			continue
		}
		switch {
		case t.Number != "":
			if !isDigits(t.Number) || len(t.Number) > 20 {
				p.add(path+".number", "%q: digits only, at most 20", t.Number)
			} else if tr.Trunk == "" {
				p.add(path+".number", "an outside number needs transfer.trunk")
			}
			if tr.CallerID == "" && !needCallerID {
				needCallerID = true
				p.add("transfer.caller_id", "must be set when a target is an outside number (%s)", path)
			}
		case t.Queue != "":
			if !slices.Contains(ivr.Categories(), ivr.Category(t.Queue)) {
				p.add(path+".queue", "unknown skill %q (want one of %s)", t.Queue, skillNames())
			}
		case t.Seat != "":
			if !slices.ContainsFunc(c.Seats, func(s Seat) bool { return s.ID == t.Seat }) {
				p.add(path+".seat", "%q is not a seat in seats", t.Seat)
			}
		}
	}
}

// Target returns the target called name.
func (tr Transfer) Target(name string) (TransferTarget, bool) {
	for _, t := range tr.Targets {
		if t.Name == name {
			return t, true
		}
	}
	return TransferTarget{}, false
}
