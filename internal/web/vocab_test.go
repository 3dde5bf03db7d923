package web

import (
	"encoding/json"
	"regexp"
	"slices"
	"testing"

	"github.com/hotline12348/hotline/internal/vocab"
)

// The console keeps no list of words of its own: every label map it reads
// (L.<kind> in app.js) is served by /api/console/options from
// internal/vocab, except its own phrases for live events.
func TestConsoleLabelsComeFromTheServer(t *testing.T) {
	e := newEnv(t)
	code, b := e.do(t, "GET", "/api/console/options", e.login(t, "op"), "")
	var opts struct {
		Labels map[string][]vocab.Word `json:"labels"`
	}
	if err := json.Unmarshal(b, &opts); code != 200 || err != nil {
		t.Fatalf("options: %d %v %s", code, err, b)
	}
	for kind, l := range vocab.Labels() {
		if !slices.Equal(opts.Labels[kind], l) {
			t.Errorf("labels[%s] served %v, vocab has %v", kind, opts.Labels[kind], l)
		}
	}
	js, err := consoleFS.ReadFile("console/app.js")
	if err != nil {
		t.Fatal(err)
	}
	own := []string{"offer", "gone", "entry"} // the console's phrases for SSE events
	used := map[string]bool{}
	for _, m := range regexp.MustCompile(`\bL\.(\w+)`).FindAllStringSubmatch(string(js), -1) {
		used[m[1]] = true
	}
	if len(used) < 10 {
		t.Fatalf("app.js reads only %v: the pattern no longer finds the label maps", used)
	}
	for kind := range used {
		if _, ok := opts.Labels[kind]; !ok && !slices.Contains(own, kind) {
			t.Errorf("app.js reads L.%s, which the server does not serve", kind)
		}
	}
	// And app.js does not spell the served words' labels itself.
	for kind, l := range vocab.Labels() {
		for _, w := range l {
			if kind != "state" && kind != "stage" && regexp.MustCompile(`"`+regexp.QuoteMeta(w.Label)+`"`).Match(js) {
				t.Errorf("app.js spells %s's label %q itself", kind, w.Label)
			}
		}
	}
}
