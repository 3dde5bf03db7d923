package call

import (
	"time"
)

// channel is the ivr.Channel of the caller's leg: prompts and recording go to
// the media, digits come from RFC 4733 (media) and SIP INFO (signalling)
// merged into one stream.
type channel struct {
	media  Media
	digits chan rune
}

func newChannel(m Media) *channel {
	return &channel{media: m, digits: make(chan rune, 32)}
}

// inject adds a digit that came by SIP INFO.
func (c *channel) inject(d rune) {
	select {
	case c.digits <- d:
	default: // nobody is listening to 32 keys: drop rather than block signalling
	}
}

func (c *channel) Play(prompts ...string) <-chan struct{} { return c.media.Play(prompts...) }
func (c *channel) StopPlay()                              { c.media.StopPlay() }

// Digits is the merged stream (see pump and inject).
func (c *channel) Digits() <-chan rune { return c.digits }

// pump forwards the media's RFC 4733 digits into the merged stream until done.
func (c *channel) pump(done <-chan struct{}) {
	src := c.media.Digits()
	for {
		select {
		case d, ok := <-src:
			if !ok {
				return
			}
			c.inject(d)
		case <-done:
			return
		}
	}
}

// recordingChannel adds voicemail recording to a channel.
type recordingChannel struct {
	*channel
	media Media
	path  string
}

func (r *recordingChannel) StartRecording() error { return r.media.StartRecording(r.path) }

func (r *recordingChannel) StopRecording() time.Duration {
	d, _ := r.media.StopRecording()
	return d
}
