// Package configs carries the shipped configuration files inside the binary,
// so that `hotline` with no --config runs from anywhere (SPEC §2).
//
// It must not import anything but the standard library: internal/config
// imports it, and nothing here may depend on the code that parses these files.
package configs

import (
	"embed"
	"io/fs"
)

// The files are embedded as strings (immutable) and handed out as fresh byte
// slices, so no caller can change what another caller reads.
var (
	//go:embed hotline.yaml
	hotlineYAML string
	//go:embed ivr.yaml
	ivrYAML string
)

//go:embed prompts/zh/*.wav
var promptsZH embed.FS

// PromptsZH is the shipped Mandarin prompt set (configs/prompts/zh), used
// when ivr.prompts is left at its default and the directory is not on disk
// (a container, a binary run from elsewhere).
func PromptsZH() fs.FS {
	sub, err := fs.Sub(promptsZH, "prompts/zh")
	if err != nil {
		panic(err) // the directory is embedded at build time: it exists
	}
	return sub
}

// HotlineYAML returns a copy of the shipped configs/hotline.yaml.
func HotlineYAML() []byte { return []byte(hotlineYAML) }

// IVRYAML returns a copy of the shipped configs/ivr.yaml (the default voice menu).
func IVRYAML() []byte { return []byte(ivrYAML) }
