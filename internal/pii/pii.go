// Package pii masks personal data before it reaches a log line.
//
// Caller numbers are personal data (PIPL): logs carry them masked as
// 138****0000, metrics never carry them at all. It imports only the
// standard library.
package pii

import (
	"log/slog"
	"strings"
)

// Mask hides the middle of a phone number: the first three and last four
// digits stay (138****0000), shorter numbers keep only their last two.
// A value without digits ("anonymous") is not a number and is kept.
func Mask(number string) string {
	if !strings.ContainsAny(number, "0123456789") {
		return number
	}
	r := []rune(number)
	switch n := len(r); {
	case n == 0:
		return ""
	case n >= 8:
		return string(r[:3]) + "****" + string(r[n-4:])
	case n > 2:
		return "****" + string(r[n-2:])
	default:
		return "****"
	}
}

// Caller is a slog attribute carrying a masked caller number.
func Caller(number string) slog.Attr { return slog.String("caller", Mask(number)) }
