package ivr

import "strconv"

// Prompt names of the number words. Unit words reuse the digit prompts'
// naming: num_10 is 十 both as "ten" and as the tens unit.
const (
	num10    = "num_10"    // 十
	num100   = "num_100"   // 百
	num1000  = "num_1000"  // 千
	num10000 = "num_10000" // 万
)

// maxNumber is the largest n NumberPrompts reads: 9999万9999.
const maxNumber = 99_999_999

// NumberPromptNames lists every prompt NumberPrompts may return, so that a
// prompt directory can be checked for them.
func NumberPromptNames() []string {
	names := make([]string, 0, 14)
	for d := range 10 {
		names = append(names, digitPrompt(d))
	}
	return append(names, num10, num100, num1000, num10000)
}

// NumberPrompts returns the Mandarin reading of n as prompt names, for
// 0 <= n <= 99,999,999 (nil outside that range):
//
//	10 → 十, 12 → 十二, 20 → 二十, 105 → 一百零五, 110 → 一百一十,
//	2020 → 二千零二十, 10001 → 一万零一, 100000 → 十万.
//
// Zeros between digits are read once as 零; trailing zeros are silent; the
// 一 of 一十 is dropped only at the very start of the number. 二 is used
// everywhere (no 两), which is correct if a little formal.
func NumberPrompts(n int) []string {
	switch {
	case n < 0 || n > maxNumber:
		return nil
	case n == 0:
		return []string{digitPrompt(0)}
	}
	hi, lo := n/10000, n%10000
	if hi == 0 {
		return readGroup(nil, lo, true)
	}
	out := append(readGroup(nil, hi, true), num10000)
	if lo > 0 {
		if lo < 1000 { // 一万零一: the empty thousands place is read as 零
			out = append(out, digitPrompt(0))
		}
		out = readGroup(out, lo, false)
	}
	return out
}

// readGroup appends the reading of 1 <= g <= 9999. leading says g starts the
// whole number, where 一十 is shortened to 十.
func readGroup(out []string, g int, leading bool) []string {
	digits := [4]int{g / 1000, g / 100 % 10, g / 10 % 10, g % 10}
	units := [4]string{num1000, num100, num10, ""}
	started, zero := false, false
	for i, d := range digits {
		if d == 0 {
			zero = zero || started
			continue
		}
		if zero {
			out = append(out, digitPrompt(0))
			zero = false
		}
		if !(leading && !started && i == 2 && d == 1) {
			out = append(out, digitPrompt(d))
		}
		if units[i] != "" {
			out = append(out, units[i])
		}
		started = true
	}
	return out
}

func digitPrompt(d int) string { return "num_" + strconv.Itoa(d) }
