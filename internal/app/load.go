package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/hotline12348/hotline/configs"
	"github.com/hotline12348/hotline/internal/call"
	"github.com/hotline12348/hotline/internal/config"
	"github.com/hotline12348/hotline/internal/media"
	"github.com/hotline12348/hotline/internal/ticket"
	"github.com/hotline12348/hotline/ivr"

	"github.com/hotline12348/hotline/internal/vocab"
)

// closeInterrupted closes the tickets of calls that were in progress when the
// previous process died: their calls are gone, and saying so is honest.
func closeInterrupted(ctx context.Context, tickets *ticket.Store, log *slog.Logger) error {
	open, err := tickets.OpenTickets(ctx)
	if err != nil {
		return err
	}
	for _, t := range open {
		_, err := tickets.Update(ctx, t.ID, func(t *ticket.Ticket) error {
			now := time.Now()
			t.Status, t.Outcome, t.EndReason = vocab.StatusClosed, vocab.OutcomeInterrupted, "process_restart"
			if t.EndedAt == nil {
				t.EndedAt = ticket.TimePtr(now)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if len(open) > 0 {
		log.Warn("closed the tickets of calls cut by the previous stop", "tickets", len(open), "outcome", vocab.OutcomeInterrupted)
	}
	return nil
}

// loadIVR reads the menu and finds the prompt directory. A path left at its
// shipped default that does not exist on disk falls back to the copy inside
// the binary, so `hotline` runs from anywhere (and in a scratch container).
func loadIVR(cfg *config.Config) (*ivr.Menu, fs.FS, error) {
	menuPath := cfg.IVR.Menu
	if _, err := os.Stat(menuPath); err != nil && menuPath == "configs/ivr.yaml" {
		menuPath = ""
	}
	menu, err := config.LoadMenuFile(menuPath)
	if err != nil {
		return nil, nil, fmt.Errorf("app: ivr.menu: %w", err)
	}
	menu.Queue.PositionEvery = cfg.ACD.PositionEvery.D()
	var pfs fs.FS
	if st, err := os.Stat(cfg.IVR.Prompts); err == nil && st.IsDir() {
		pfs = os.DirFS(cfg.IVR.Prompts)
	} else if cfg.IVR.Prompts == "configs/prompts/zh" {
		pfs = configs.PromptsZH()
	} else {
		return nil, nil, fmt.Errorf("app: ivr.prompts: %s is not a directory", cfg.IVR.Prompts)
	}
	has := func(name string) bool {
		if ivr.IsTone(name) {
			return true
		}
		_, err := fs.Stat(pfs, name+".wav")
		return err == nil
	}
	if errs := menu.Validate(has); len(errs) > 0 {
		return nil, nil, fmt.Errorf("app: ivr.menu: %w", errors.Join(errs...))
	}
	return menu, pfs, nil
}

// loadPrompts decodes and pre-encodes every prompt once, at start.
func loadPrompts(pfs fs.FS) (map[string]*media.Prompt, error) {
	out := map[string]*media.Prompt{}
	entries, err := fs.ReadDir(pfs, ".")
	if err != nil {
		return nil, fmt.Errorf("app: prompts: %w", err)
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".wav")
		if !ok || e.IsDir() {
			continue
		}
		p, err := media.LoadPromptWAV(pfs, e.Name())
		if err != nil {
			return nil, err
		}
		out[name] = p
	}
	// The voicemail beep: 1 kHz, 400 ms (ITU-T E.180 tones are 400-450 Hz;
	// answering machines customarily beep higher).
	out[ivr.Beep] = media.Tone(ivr.Beep, 1000, 400*time.Millisecond, 0.3)
	// Ringback while a seat rings: 450 Hz, 1 s on, 4 s off (China, YD/T 1970).
	on := media.Tone(call.Ringback, 450, time.Second, 0.2).PCM()
	out[call.Ringback] = media.NewPrompt(call.Ringback, append(append([]int16(nil), on...), make([]int16, 4*8000)...))
	return out, nil
}
