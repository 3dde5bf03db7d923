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

// minTextDigits is how many digits make a run in free text a phone number:
// a Chinese local number without its area code has 7 or 8.
const minTextDigits = 7

// MaskText masks every phone-number-like run in free text (a SIP message,
// an error): 7 or more digits, optionally after a + or (, that may be
// grouped by single spaces, hyphens or parentheses as people write them
// ("138-1234-5678", "+86 138 1234 5678", "(0871) 6512-3456"). A run is
// masked like Mask masks its digits: "138****5678". Dots end a run, so IP
// addresses and versions stay readable.
func MaskText(s string) string {
	var b strings.Builder
	last := 0 // s[last:i] is copied as is
	for i := 0; i < len(s); {
		start, end, digits := numberRun(s, i)
		if end <= start {
			i++
			continue
		}
		if digits >= minTextDigits {
			b.WriteString(s[last:start])
			run := s[start:end]
			if run[0] == '(' {
				// Kept: without it the digits before could join the
				// masked ones into a new run ("0000  (00000000").
				b.WriteByte('(')
				run = run[1:]
			}
			b.WriteString(Mask(compact(run)))
			last = end
		}
		i = end
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// numberRun reads a candidate number at s[i:]: an optional + or (, then
// digits, with single separators (space, -, parentheses; ") " and " (" as
// one) between digit groups. It returns the run's bounds (end == start when
// there is none) and its digit count. A separator that no digit follows is
// not part of the run.
func numberRun(s string, i int) (start, end, digits int) {
	start = i
	j := i
	if j < len(s) && (s[j] == '+' || s[j] == '(') {
		j++
	}
	if j >= len(s) || !isDigit(s[j]) {
		return i, i, 0
	}
	end = j
	for j < len(s) {
		if isDigit(s[j]) {
			digits++
			j++
			end = j
			continue
		}
		// Up to two separator characters between digit groups.
		k := j
		for n := 0; n < 2 && k < len(s) && strings.IndexByte(" -()", s[k]) >= 0; n++ {
			k++
		}
		if k == j || k >= len(s) || !isDigit(s[k]) {
			break
		}
		j = k
	}
	return start, end, digits
}

// compact drops the separators of a run, keeping a leading +.
func compact(run string) string {
	var b strings.Builder
	for i := 0; i < len(run); i++ {
		if c := run[i]; isDigit(c) || (c == '+' && i == 0) {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Caller is a slog attribute carrying a masked caller number.
func Caller(number string) slog.Attr { return slog.String("caller", Mask(number)) }
