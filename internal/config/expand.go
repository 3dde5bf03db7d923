package config

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// expander replaces ${VAR} and ${VAR:-default} in the scalar values of a
// parsed document. Working on the node tree, after parsing, means an expanded
// value is never parsed as YAML: a password containing ": " or " #" stays one
// string. Mapping keys and comments are left alone.
type expander struct {
	env       func(string) (string, bool)
	problems  Errors
	defaulted []string // key paths where a ${VAR:-default} fallback was used
}

func (x *expander) walk(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			x.walk(c, path)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			x.walk(n.Content[i+1], joinKey(path, keyName(n.Content[i])))
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			x.walk(c, joinIndex(path, i))
		}
	case yaml.ScalarNode:
		x.scalar(n, path)
	}
	// Alias nodes point at a node expanded where its anchor is.
}

func (x *expander) scalar(n *yaml.Node, path string) {
	if !strings.Contains(n.Value, "$") {
		return
	}
	v, usedDefault, err := expand(n.Value, x.env)
	if err != nil {
		x.problems = append(x.problems, &Problem{Path: path, Err: err})
		// Decode it as absent: keys derived from it (media.bind_ip from
		// media.rtp_ip) then get defaults instead of a second, confusing
		// problem about the unexpanded text.
		n.Value, n.Tag, n.Style = "", "!!null", 0
		return
	}
	if usedDefault {
		x.defaulted = append(x.defaulted, path)
	}
	n.Value = v
	// A plain scalar is typed by its text: let "${PORT}" become an integer
	// and "${REC:-true}" a boolean. Quoted or explicitly tagged ones stay
	// what they were.
	if n.Style&(yaml.TaggedStyle|yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
		n.Tag = ""
	}
}

// expand replaces ${VAR}, ${VAR:-default} and $$ in s. The default is used
// when VAR is unset or empty (as in the shell) and is taken literally up to
// the first "}". A "$" followed by anything else is kept.
func expand(s string, env func(string) (string, bool)) (out string, usedDefault bool, err error) {
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c != '$' || i+1 == len(s) {
			b.WriteByte(c)
			i++
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i += 2
			continue
		case '{':
		default:
			b.WriteByte('$')
			i++
			continue
		}
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			return "", false, fmt.Errorf(`unterminated "${" (write $$ for a literal dollar)`)
		}
		expr := s[i+2 : i+2+end]
		name, def, hasDef := strings.Cut(expr, ":-")
		if !validVarName(name) {
			return "", false, fmt.Errorf("bad variable reference ${%s} (want ${NAME} or ${NAME:-default})", expr)
		}
		v, ok := "", false
		if env != nil {
			v, ok = env(name)
		}
		switch {
		case hasDef && v == "":
			v, usedDefault = def, true
		case !ok:
			return "", false, fmt.Errorf("environment variable %s is not set (set it, or write ${%s:-default})", name, name)
		}
		b.WriteString(v)
		i += 2 + end + 1
	}
	return b.String(), usedDefault, nil
}

func validVarName(s string) bool {
	for i, r := range s {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return s != ""
}

// keyName is a mapping key as it appears in a key path.
func keyName(k *yaml.Node) string {
	if k.Kind == yaml.ScalarNode {
		return k.Value
	}
	return "?"
}
