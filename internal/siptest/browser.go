package siptest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Browser is Debian's headless Chromium, driven over the DevTools protocol
// with chromedp, for the console's end-to-end tests.
type Browser struct {
	ctx    context.Context
	cancel context.CancelFunc
	log    *syncBuffer
}

// chromiumPath finds Debian's chromium; a missing one fails the test: the
// README's test command (scripts/test.sh) installs it.
func chromiumPath(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatalf("chromium is not installed: run the README's test command (scripts/test.sh), which installs the test peers (Debian package chromium)")
	return ""
}

// StartBrowser starts a headless Chromium with a fresh profile; it is
// stopped at the end of the test. The flags are the ones this machine needs
// (no sandbox as root, no GPU, no background connections to the outside).
func StartBrowser(t testing.TB) *Browser {
	t.Helper()
	b := &Browser{log: &syncBuffer{}}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints"),
		chromedp.Flag("lang", "zh-CN"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1366, 768),
		chromedp.CombinedOutput(b.log),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	b.ctx = ctx
	b.cancel = func() { cancel(); cancelAlloc() }
	// The first run starts the browser; no timeout on it (it would stop the browser).
	start := make(chan error, 1)
	go func() { start <- chromedp.Do(ctx) }()
	select {
	case err := <-start:
		if err != nil {
			b.cancel()
			t.Fatalf("chromium did not start: %v\n%s", err, b.log.String())
		}
	case <-time.After(60 * time.Second):
		b.cancel()
		t.Fatalf("chromium did not start within 60s\n%s", b.log.String())
	}
	t.Cleanup(b.cancel)
	return b
}

// Page is one tab with its own cookies (a separate browser context), so two
// users can be logged in at once.
type Page struct {
	Ctx  context.Context
	Name string
	t    testing.TB
}

// NewPage opens a tab in a new browser context with a w×h viewport.
func (b *Browser) NewPage(t testing.TB, name string, w, h int) *Page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// The first run opens the tab and binds its life to its context: no
	// timeout on that one (later runs derive theirs from it).
	opened := make(chan error, 1)
	go func() { opened <- chromedp.Do(ctx) }()
	select {
	case err := <-opened:
		if err != nil {
			t.Fatalf("%s: open tab: %v\n%s", name, err, b.log.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: the tab did not open within 30s\n%s", name, b.log.String())
	}
	p := &Page{Ctx: ctx, Name: name, t: t}
	p.Do(chromedp.EmulateViewport(int64(w), int64(h)))
	return p
}

// Do runs actions with a bound of 30 s.
func (p *Page) Do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.Ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("%s: %v\npage text:\n%s", p.Name, err, p.text())
	}
}

// Eval evaluates a JavaScript expression and returns its value as T.
func Eval[T any](p *Page, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.Ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.t.Fatalf("%s: eval %s: %v", p.Name, expr, err)
	}
	return v
}

// Text returns the text of the element with the id ("" when absent).
func (p *Page) Text(id string) string {
	p.t.Helper()
	return Eval[string](p, fmt.Sprintf(`(document.getElementById(%q)||{}).textContent||""`, id))
}

// WaitFor polls a JavaScript boolean expression until it is true; the test
// fails after within, showing what the page says.
func (p *Page) WaitFor(what, expr string, within time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(p.Ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!(`+expr+`)`))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: %s: not so after %s (%s; last error %v)\npage text:\n%s", p.Name, what, within, expr, err, p.text())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (p *Page) text() string {
	ctx, cancel := context.WithTimeout(p.Ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	if len(s) > 4000 {
		s = s[:4000] + "…"
	}
	return s
}

// Screenshot writes a PNG of the viewport to the test's temporary directory
// and, when HOTLINE_SCREENSHOTS names a directory, there too. It returns the
// paths written.
func (p *Page) Screenshot(name string) []string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.Ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Fatalf("%s: screenshot: %v", p.Name, err)
	}
	dirs := []string{p.t.TempDir()}
	if d := os.Getenv("HOTLINE_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			p.t.Fatal(err)
		}
		dirs = append(dirs, d)
	}
	var out []string
	for _, d := range dirs {
		path := filepath.Join(d, name)
		if err := os.WriteFile(path, png, 0o644); err != nil {
			p.t.Fatal(err)
		}
		out = append(out, path)
	}
	p.t.Logf("screenshot %s: %s", name, strings.Join(out, ", "))
	return out
}
