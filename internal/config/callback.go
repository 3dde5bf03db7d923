package config

import "time"

// Callback is the callback worklist (SPEC §9a).
type Callback struct {
	// Due is how long after the call a callback task of each reason is due.
	Due         CallbackDue `yaml:"due"`
	MaxAttempts int         `yaml:"max_attempts"` // attempts before a task closes as unreachable (default 3)
	// AssignEvery is how often open tasks are handed to idle ready
	// operators (default 5s); 0: never, operators claim them by hand.
	AssignEvery Duration `yaml:"assign_every"`
}

// CallbackDue is callback.due, per reason.
type CallbackDue struct {
	Voicemail    Duration `yaml:"voicemail"`
	Abandoned    Duration `yaml:"abandoned"`
	Dissatisfied Duration `yaml:"dissatisfied"`
}

func callbackDefaults(c *Config, absent func(string) bool) {
	dur := func(path string, f *Duration, d time.Duration) {
		if absent(path) {
			*f = Duration(d)
		}
	}
	dur("callback.due.voicemail", &c.Callback.Due.Voicemail, 24*time.Hour)
	dur("callback.due.abandoned", &c.Callback.Due.Abandoned, 24*time.Hour)
	dur("callback.due.dissatisfied", &c.Callback.Due.Dissatisfied, 24*time.Hour)
	dur("callback.assign_every", &c.Callback.AssignEvery, 5*time.Second)
	if absent("callback.max_attempts") {
		c.Callback.MaxAttempts = 3
	}
}

func (c *Config) callbackProblems(p *Errors) {
	positive(p, "callback.due.voicemail", c.Callback.Due.Voicemail)
	positive(p, "callback.due.abandoned", c.Callback.Due.Abandoned)
	positive(p, "callback.due.dissatisfied", c.Callback.Due.Dissatisfied)
	notNegative(p, "callback.assign_every", c.Callback.AssignEvery)
	if c.Callback.MaxAttempts < 1 {
		p.add("callback.max_attempts", "must be at least 1")
	}
}
