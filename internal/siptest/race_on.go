//go:build race

package siptest

const raceEnabled = true
