package ivr

import (
	"context"
	"fmt"
	"time"
)

// Survey asks the caller for a satisfaction score when the seat hung up first
// (SPEC §5: "满意请按1,基本满意请按2,不满意请按3").
type Survey struct {
	Prompts []string       `yaml:"prompts"` // the question; keys may be pressed during it
	Scores  map[string]int `yaml:"scores"`  // key -> score 1..3 ("1": 1)
	// Timeout is how long to wait for a key after the question has finished.
	Timeout    time.Duration `yaml:"timeout"`
	Invalid    []string      `yaml:"invalid"`     // after a wrong key, before the question again
	MaxRetries int           `yaml:"max_retries"` // wrong keys that get the question again
	Thanks     []string      `yaml:"thanks"`      // after a valid answer
}

// defaultSurveyTimeout is used when Timeout is not positive.
const defaultSurveyTimeout = 8 * time.Second

// Run asks the question and returns the score (0 = no valid answer: timeout or
// too many wrong keys). A hang-up before a valid answer returns 0 and an error
// wrapping ctx.Err(); a hang-up during the thanks keeps the score.
func (s *Survey) Run(ctx context.Context, ch Channel) (score int, err error) {
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = defaultSurveyTimeout
	}
	digits := ch.Digits()
	drain(digits)
	prompts := s.Prompts
	for tries := 0; ; tries++ {
		d, got, err := collect(ctx, ch, digits, prompts, timeout)
		if err != nil {
			return 0, fmt.Errorf("ivr: survey: %w", err)
		}
		if !got {
			return 0, nil
		}
		if score, ok := s.Scores[string(d)]; ok {
			play(ctx, ch, s.Thanks...)
			return score, nil
		}
		if tries >= s.MaxRetries {
			return 0, nil
		}
		prompts = concat(s.Invalid, s.Prompts)
	}
}
