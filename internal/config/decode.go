package config

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// parseNode parses one YAML document. An empty input is an empty mapping.
func parseNode(data []byte) (*yaml.Node, Errors) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}, nil
		}
		return nil, Errors{&Problem{Err: err}}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err == nil {
			err = errors.New("more than one YAML document (remove the second ---)")
		}
		return nil, Errors{&Problem{Err: err}}
	}
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}, nil
		}
		return doc.Content[0], nil
	}
	return &doc, nil
}

// decoder fills a Go value from a node tree strictly, as yaml's
// KnownFields(true) would, but reports every problem with its key path
// ("sip.lisen: unknown key") instead of a line number, and goes on after one.
// Fields are matched by their `yaml:"name"` tag.
type decoder struct {
	problems Errors
	present  map[string]bool           // key paths given a non-null value
	active   map[*yaml.Node]bool       // aliases being expanded (cycle guard)
	steps    int                       // nodes visited (alias bomb guard)
	fields   map[reflect.Type]fieldMap // cache
}

type fieldMap map[string]int

// maxSteps bounds the work on a hostile document ("billion laughs" aliases).
const maxSteps = 200_000

var durationType = reflect.TypeFor[time.Duration]()

func newDecoder() *decoder {
	return &decoder{
		present: map[string]bool{},
		active:  map[*yaml.Node]bool{},
		fields:  map[reflect.Type]fieldMap{},
	}
}

// maxProblems bounds the list: past it, the first ones are what to fix.
const maxProblems = 100

func (d *decoder) add(path, format string, args ...any) {
	switch {
	case len(d.problems) < maxProblems:
		d.problems.add(path, format, args...)
	case len(d.problems) == maxProblems:
		d.problems.add("", "too many problems; fix the ones above first")
	}
}

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	d.steps++
	if d.steps > maxSteps {
		if d.steps == maxSteps+1 {
			d.add("", "document too large (or too many aliases)")
		}
		return
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			d.add(path, "alias *%s refers to no anchor", n.Value)
			return
		}
		if d.active[n] {
			d.add(path, "alias *%s refers to a value containing it", n.Value)
			return
		}
		d.active[n] = true
		defer delete(d.active, n)
		d.decode(n.Alias, v, path)
		return
	}
	if isNull(n) {
		return // "key:" or "key: ~" is the same as leaving the key out
	}
	d.present[path] = true

	if v.Type() == durationType {
		if !d.wantScalar(n, path, "a duration like 15s") {
			return
		}
		dur, err := parseDuration(n.Value)
		if err != nil {
			d.add(path, "%w", err)
			return
		}
		v.SetInt(int64(dur))
		return
	}
	if v.CanAddr() {
		if u, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
			if !d.wantScalar(n, path, "a value") {
				return
			}
			if err := u.UnmarshalText([]byte(n.Value)); err != nil {
				d.add(path, "%w", err)
			}
			return
		}
	}

	switch v.Kind() {
	case reflect.Struct:
		d.structure(n, v, path)
	case reflect.Map:
		d.mapping(n, v, path)
	case reflect.Slice:
		d.sequence(n, v, path)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		d.decode(n, p.Elem(), path)
		v.Set(p)
	case reflect.String:
		if d.wantScalar(n, path, "a string") {
			v.SetString(n.Value)
		}
	case reflect.Bool:
		if !d.wantScalar(n, path, "true or false") {
			return
		}
		var b bool
		if n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
			d.add(path, "want true or false, got %q", n.Value)
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if !d.wantScalar(n, path, "an integer") {
			return
		}
		var i int64
		if n.ShortTag() != "!!int" || n.Decode(&i) != nil || v.OverflowInt(i) {
			d.add(path, "want an integer, got %q", n.Value)
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if !d.wantScalar(n, path, "a non-negative integer") {
			return
		}
		var u uint64
		if n.ShortTag() != "!!int" || n.Decode(&u) != nil || v.OverflowUint(u) {
			d.add(path, "want a non-negative integer, got %q", n.Value)
			return
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		if !d.wantScalar(n, path, "a number") {
			return
		}
		var f float64
		if t := n.ShortTag(); (t != "!!float" && t != "!!int") || n.Decode(&f) != nil {
			d.add(path, "want a number, got %q", n.Value)
			return
		}
		v.SetFloat(f)
	default:
		d.add(path, "cannot be set from YAML (%s)", v.Type())
	}
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

func (d *decoder) wantScalar(n *yaml.Node, path, want string) bool {
	if n.Kind == yaml.ScalarNode {
		return true
	}
	d.add(path, "want %s, got %s", want, describe(n))
	return false
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping (key: value)"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "nothing"
}

// pair is one key: value of a mapping, after merge keys (<<) are resolved.
type pair struct {
	key   string
	value *yaml.Node
}

// pairs returns a mapping's own pairs, duplicates reported, followed by the
// pairs merged in with "<<: *anchor" that the mapping does not override
// (YAML merge key type: own keys win, earlier merges win over later ones).
func (d *decoder) pairs(n *yaml.Node, path string) []pair {
	var own, merged []pair
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.add(path, "keys must be plain strings, got %s", describe(k))
			continue
		}
		if k.Value == "<<" && k.ShortTag() == "!!merge" {
			merged = append(merged, d.merge(v, path)...)
			continue
		}
		if seen[k.Value] {
			d.add(joinKey(path, k.Value), "duplicate key")
			continue
		}
		seen[k.Value] = true
		own = append(own, pair{k.Value, v})
	}
	for _, p := range merged {
		if !seen[p.key] {
			seen[p.key] = true
			own = append(own, p)
		}
	}
	return own
}

func (d *decoder) merge(v *yaml.Node, path string) []pair {
	d.steps++
	if d.steps > maxSteps {
		return nil
	}
	switch v.Kind {
	case yaml.AliasNode:
		if v.Alias == nil || d.active[v] {
			d.add(path, "<< merges an alias that is missing or contains itself")
			return nil
		}
		d.active[v] = true
		defer delete(d.active, v)
		return d.merge(v.Alias, path)
	case yaml.MappingNode:
		return d.pairs(v, path)
	case yaml.SequenceNode:
		var out []pair
		for _, c := range v.Content {
			out = append(out, d.merge(c, path)...)
		}
		return out
	}
	d.add(path, "<< wants a mapping or a list of mappings, got %s", describe(v))
	return nil
}

func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.add(path, "want a mapping (key: value), got %s", describe(n))
		return
	}
	fields := d.fieldsOf(v.Type())
	for _, p := range d.pairs(n, path) {
		kpath := joinKey(path, p.key)
		i, ok := fields[p.key]
		if !ok {
			if guess := closest(p.key, fields); guess != "" {
				d.add(kpath, "unknown key (did you mean %s?)", guess)
			} else {
				d.add(kpath, "unknown key")
			}
			continue
		}
		d.decode(p.value, v.Field(i), kpath)
	}
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.add(path, "want a mapping (key: value), got %s", describe(n))
		return
	}
	t := v.Type()
	if t.Key().Kind() != reflect.String {
		d.add(path, "cannot be set from YAML (%s)", t)
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(t))
	}
	for _, p := range d.pairs(n, path) {
		elem := reflect.New(t.Elem()).Elem()
		d.decode(p.value, elem, joinKey(path, p.key))
		v.SetMapIndex(reflect.ValueOf(p.key).Convert(t.Key()), elem)
	}
}

func (d *decoder) sequence(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.add(path, "want a list, got %s", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, c := range n.Content {
		d.decode(c, s.Index(i), joinIndex(path, i))
	}
	v.Set(s)
}

// fieldsOf maps the yaml names of a struct's exported fields to their index.
func (d *decoder) fieldsOf(t reflect.Type) fieldMap {
	if m, ok := d.fields[t]; ok {
		return m
	}
	m := fieldMap{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = strings.ToLower(f.Name)
		}
		m[name] = i
	}
	d.fields[t] = m
	return m
}

// closest is the known key nearest to an unknown one, if it is near enough
// to be a typo ("lisen" -> "listen").
func closest(key string, fields fieldMap) string {
	best, bestDist := "", 3
	for name := range fields {
		if dist := editDistance(key, name); dist < bestDist || dist == bestDist && name < best {
			best, bestDist = name, dist
		}
	}
	if bestDist > 2 || bestDist >= len(key) {
		return ""
	}
	return best
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
