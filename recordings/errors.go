package recordings

import "errors"

var (
	// ErrClosed: the writer or recorder was closed.
	ErrClosed = errors.New("recordings: closed")
	// ErrTooLarge: a WAV file cannot hold more than 4 GiB of data.
	ErrTooLarge = errors.New("recordings: wav data would exceed 4 GiB")
	// ErrChannels: only 1 or 2 channels, and whole sample frames.
	ErrChannels = errors.New("recordings: bad channel count or partial frame")
)
