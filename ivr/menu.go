package ivr

import (
	"context"
	"fmt"
	"time"
)

// Menu is configs/ivr.yaml: the main menu and the flows around the queue.
// The zero value of an optional field means "none"; Validate says which
// fields are required.
type Menu struct {
	Welcome []string `yaml:"welcome"` // played once on answer; carries the recording notice
	Prompts []string `yaml:"menu"`    // the menu itself, replayed on RepeatKey and after a wrong key
	Invalid []string `yaml:"invalid"` // played before the menu replays after a wrong key (optional)
	// Timeout is how long to wait for a key after the menu has finished
	// playing (not after the welcome); then the caller goes to General.
	Timeout    time.Duration `yaml:"timeout"`
	RepeatKey  string        `yaml:"repeat_key"`  // "*" replays the menu ("" = no repeat key)
	MaxRepeats int           `yaml:"max_repeats"` // repeats allowed; one more goes to General
	MaxInvalid int           `yaml:"max_invalid"` // wrong keys that replay the menu; one more goes to General
	// General is the queue for "0", no key, too many wrong keys or repeats.
	General Route `yaml:"general"`
	// Routes maps a key ("1") to its queue.
	Routes map[string]Route `yaml:"routes"`

	Queue     QueueAnnouncer `yaml:"queue"`
	Voicemail Voicemail      `yaml:"voicemail"`
	Survey    Survey         `yaml:"survey"`
}

// Route is where a key sends the caller.
type Route struct {
	Category Category `yaml:"category"`
	Priority Priority `yaml:"priority"` // "" means normal
	Label    string   `yaml:"label"`    // shown to people (console, tickets): "法律援助"
}

// KeyLabels says what each key of the main menu does, as the console shows
// an IVR path ("2 法律援助 → * 重听"): the routes' labels, the repeat key.
func (m *Menu) KeyLabels() map[string]string {
	out := make(map[string]string, len(m.Routes)+1)
	for k, r := range m.Routes {
		out[k] = r.Label
	}
	if m.RepeatKey != "" {
		out[m.RepeatKey] = "重听"
	}
	return out
}

// EffectivePriority is the route's priority, normal when unset.
func (r Route) EffectivePriority() Priority {
	if r.Priority == "" {
		return Normal
	}
	return r.Priority
}

// Reason says how the menu ended.
type Reason string

// The ways a menu ends with a route.
const (
	ReasonChoice      Reason = "choice"       // a routed key other than 0
	ReasonZero        Reason = "zero"         // the caller pressed 0
	ReasonTimeout     Reason = "timeout"      // no key within Timeout after the menu
	ReasonInvalid     Reason = "invalid"      // more than MaxInvalid wrong keys
	ReasonRepeatLimit Reason = "repeat_limit" // more than MaxRepeats repeat keys
)

// Result is the outcome of the main menu, stored on the ticket.
type Result struct {
	Category Category
	Priority Priority
	// Path is every key pressed, in order ("7*1"), the ticket's ivr_path.
	Path string
	// Reason is how the menu ended; "" when the caller hung up.
	Reason Reason
}

// defaultMenuTimeout is used when Timeout is not positive (SPEC §5: 5 s).
const defaultMenuTimeout = 5 * time.Second

// Run plays the welcome and the menu and returns the queue the caller chose.
// Keys are taken during any prompt (barge-in). It never gives up on a caller:
// no key, wrong keys and endless repeats all lead to the General route. When
// ctx ends (the caller hung up) it stops playback and returns the partial
// Result (Path so far, no Category) and an error wrapping ctx.Err().
func (m *Menu) Run(ctx context.Context, ch Channel) (Result, error) {
	var res Result
	timeout := m.Timeout
	if timeout <= 0 {
		timeout = defaultMenuTimeout
	}
	end := func(r Route, why Reason) (Result, error) {
		res.Category, res.Priority, res.Reason = r.Category, r.EffectivePriority(), why
		return res, nil
	}
	digits := ch.Digits()

	// The welcome is not followed by a wait: the timeout runs after the menu.
	d, got, err := collect(ctx, ch, digits, m.Welcome, 0)
	if err != nil {
		return res, fmt.Errorf("ivr: menu: %w", err)
	}
	next := m.Prompts
	repeats, invalids := 0, 0
	for {
		if !got {
			d, got, err = collect(ctx, ch, digits, next, timeout)
			if err != nil {
				return res, fmt.Errorf("ivr: menu: %w", err)
			}
			if !got {
				return end(m.General, ReasonTimeout)
			}
		}
		got = false
		key := string(d)
		res.Path += key
		if r, ok := m.Routes[key]; ok {
			if key == "0" {
				return end(r, ReasonZero)
			}
			return end(r, ReasonChoice)
		}
		if m.RepeatKey != "" && key == m.RepeatKey {
			repeats++
			if repeats > m.MaxRepeats {
				return end(m.General, ReasonRepeatLimit)
			}
			next = m.Prompts
			continue
		}
		invalids++
		if invalids > m.MaxInvalid {
			return end(m.General, ReasonInvalid)
		}
		next = concat(m.Invalid, m.Prompts)
	}
}
