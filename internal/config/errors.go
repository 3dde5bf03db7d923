package config

import (
	"fmt"
	"strings"
)

// Problem is one thing wrong with a configuration, at its key path.
type Problem struct {
	// Path is the key path: "sip.listen[1]", "seats[2].password"; "" for the
	// file as a whole (a YAML syntax error).
	Path string
	Err  error
}

func (p *Problem) Error() string {
	if p.Path == "" {
		return p.Err.Error()
	}
	return p.Path + ": " + p.Err.Error()
}

func (p *Problem) Unwrap() error { return p.Err }

// Errors is every problem found: those of ${VAR} expansion, then of
// decoding, then of validation, each group in file order. Its message lists each
// "key.path: problem" on its own line, after a count; errors.As(err, &errs)
// gets the list back from Load's error.
type Errors []error

func (e Errors) Error() string {
	var b strings.Builder
	if len(e) == 1 {
		b.WriteString("1 problem:")
	} else {
		fmt.Fprintf(&b, "%d problems:", len(e))
	}
	for _, err := range e {
		b.WriteString("\n")
		b.WriteString(err.Error())
	}
	return b.String()
}

func (e Errors) Unwrap() []error { return e }

func (e *Errors) add(path, format string, args ...any) {
	*e = append(*e, &Problem{Path: path, Err: fmt.Errorf(format, args...)})
}

// paths returns the key paths of the problems that have one.
func (e Errors) paths() []string {
	var out []string
	for _, err := range e {
		if p, ok := err.(*Problem); ok {
			out = append(out, p.Path)
		}
	}
	return out
}

// without drops the problems at or under any of the given key paths: a key
// that could not be decoded is reported once, not again by Validate.
func (e Errors) without(paths []string) Errors {
	var out Errors
	for _, err := range e {
		if p, ok := err.(*Problem); ok && under(p.Path, paths) {
			continue
		}
		out = append(out, err)
	}
	return out
}

func under(path string, roots []string) bool {
	for _, r := range roots {
		if r == "" {
			continue
		}
		if path == r || strings.HasPrefix(path, r+".") || strings.HasPrefix(path, r+"[") {
			return true
		}
	}
	return false
}

// joinKey appends a mapping key to a key path.
func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// joinIndex appends a list index to a key path.
func joinIndex(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }
