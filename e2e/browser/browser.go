// Package browser drives a headless Chromium for cdrgw's end-to-end tests:
// it starts the browser with a fresh profile, runs chromedp actions with a
// time limit each, fails the test with a screenshot of the page when one
// does not finish, saves full-page screenshots under the test output folder
// and reports uncaught JavaScript exceptions as test errors.
//
// Chromium must be at ExecPath. When it is missing the test is skipped,
// naming it, unless CDRGW_REQUIRE_PEERS is set, when it fails.
package browser

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ExecPath is where the tests expect Chromium.
const ExecPath = "/usr/bin/chromium"

// execPath is ExecPath; tests of this package change it.
var execPath = ExecPath

// Viewport sizes of the screenshots: a laptop screen and a phone.
const (
	DesktopWidth, DesktopHeight = 1280, 800
	PhoneWidth, PhoneHeight     = 375, 812
)

// StepTimeout is how long one Do or Run may take unless the tab was started
// with another.
const StepTimeout = 10 * time.Second

// Tab is one browser tab of a test.
type Tab struct {
	t       testing.TB
	ctx     context.Context // the tab's chromedp context
	dir     string          // screenshot folder
	step    time.Duration
	mu      sync.Mutex
	shots   map[string]bool
	console []chromedp.ConsoleMessage
}

// Start starts Chromium headless with a fresh profile in a temporary
// directory and opens one tab at 1280×800. The browser lives at most total;
// it is stopped, and uncaught exceptions of its pages reported with
// t.Errorf, when the test ends.
func Start(t testing.TB, total time.Duration) *Tab {
	t.Helper()
	if _, err := os.Stat(execPath); err != nil {
		if os.Getenv("CDRGW_REQUIRE_PEERS") != "" {
			t.Fatalf("Chromium not found at %s and CDRGW_REQUIRE_PEERS is set: %v", execPath, err)
		}
		t.Skipf("Chromium not found at %s (apt-get install -y chromium): %v", execPath, err)
	}
	life, stop := context.WithTimeout(context.Background(), total)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(life,
		chromedp.ExecPath(execPath),
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
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter"),
		chromedp.Flag("password-store", "basic"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(DesktopWidth, DesktopHeight),
	)
	ctx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithErrorf(func(format string, args ...any) {
		t.Logf("chromedp: "+format, args...)
	}))
	tab := &Tab{t: t, ctx: ctx, dir: OutputDir(t), step: StepTimeout, shots: map[string]bool{}}

	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		stop()
		wg.Wait()
		for _, m := range tab.Console() {
			if m.IsException() {
				t.Errorf("browser: uncaught exception at %s:%d:%d: %s", m.URL, m.Line+1, m.Column+1, m.Text)
			} else if t.Failed() {
				t.Logf("browser console: %s (%s)", m, m.URL)
			}
		}
	})

	// The first action starts the browser and binds it to the context it
	// runs with, so it runs with ctx itself: only the total limit applies.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(DesktopWidth, DesktopHeight)); err != nil {
		t.Fatalf("start Chromium %s: %v", execPath, err)
	}
	messages := chromedp.Console(ctx)
	wg.Go(func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			tab.mu.Lock()
			tab.console = append(tab.console, m)
			tab.mu.Unlock()
		}
	})
	return tab
}

// Context returns the tab's chromedp context, for actions that Do and Run do
// not cover. It has no time limit of its own.
func (b *Tab) Context() context.Context { return b.ctx }

// OutputDir returns the folder the screenshots go to.
func (b *Tab) OutputDir() string { return b.dir }

// Console returns the console messages and uncaught exceptions seen so far.
func (b *Tab) Console() []chromedp.ConsoleMessage {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]chromedp.ConsoleMessage(nil), b.console...)
}

// Do runs steps with the step time limit. On error it saves a screenshot
// named after what and fails the test with the page's URL.
func (b *Tab) Do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, b.step)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.fail(what, err)
	}
}

// Run runs a with the tab's step time limit and returns its value; on error
// it fails the test as Do does.
func Run[T any](b *Tab, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, b.step)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.fail(what, err)
	}
	return v
}

// fail saves a screenshot of the page and ends the test.
func (b *Tab) fail(what string, err error) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	url, _ := chromedp.Run(ctx, chromedp.Location())
	msg := fmt.Sprintf("%s: %v (page %s)", what, err, url)
	if errors.Is(err, context.DeadlineExceeded) {
		msg = fmt.Sprintf("%s: not done within %s (page %s): %v", what, b.step, url, err)
	}
	if path, serr := b.save(ctx, "failed-"+what, chromedp.FullScreenshot(100)); serr == nil {
		msg += "; screenshot " + path
	}
	b.t.Fatal(msg)
}

// Screenshot saves a full-page PNG of the current page at 1280×800 as
// NAME.png in the output folder.
func (b *Tab) Screenshot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, b.step)
	defer cancel()
	if _, err := b.save(ctx, name, chromedp.FullScreenshot(100)); err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
}

// PhoneScreenshot saves a full-page PNG of the current page at phone width
// (375×812, mobile, touch) as NAME.png and sets the viewport back to
// 1280×800. It returns the page's scroll width at phone width, so that a
// test can check that nothing is wider than the screen.
func (b *Tab) PhoneScreenshot(name string) (scrollWidth int) {
	b.t.Helper()
	b.Do("phone viewport", chromedp.EmulateViewport(PhoneWidth, PhoneHeight, chromedp.EmulateMobile, chromedp.EmulateTouch))
	defer b.Do("desktop viewport", chromedp.EmulateViewport(DesktopWidth, DesktopHeight))
	width := Run(b, "scroll width at phone width", chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
	ctx, cancel := context.WithTimeout(b.ctx, b.step)
	defer cancel()
	if _, err := b.save(ctx, name, chromedp.FullScreenshot(100)); err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	return width
}

// save runs shot and writes the image under the output folder.
func (b *Tab) save(ctx context.Context, name string, shot chromedp.Action[[]byte]) (string, error) {
	img, err := chromedp.Run(ctx, shot)
	if err != nil {
		return "", err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	base := fileName(name)
	for i := 2; b.shots[base]; i++ {
		base = fmt.Sprintf("%s-%d", fileName(name), i)
	}
	b.shots[base] = true
	if err := os.MkdirAll(b.dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(b.dir, base+".png")
	if err := os.WriteFile(path, img, 0o644); err != nil {
		return "", err
	}
	return path, nil
}

// OutputDir returns the folder of the test's output files:
// $CDRGW_TEST_OUTPUT/<TestName>, or testdata/out/<TestName> relative to the
// package directory (the working directory of go test). Earlier output of
// the test is removed.
func OutputDir(t testing.TB) string {
	t.Helper()
	root := os.Getenv("CDRGW_TEST_OUTPUT")
	if root == "" {
		root = filepath.Join("testdata", "out")
	}
	dir := filepath.Join(root, fileName(t.Name()))
	if err := os.RemoveAll(dir); err != nil {
		t.Fatalf("output folder: %v", err)
	}
	return dir
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// fileName makes s safe as one path element.
func fileName(s string) string {
	return unsafeChars.ReplaceAllString(s, "_")
}

// poll evaluates expr (a JavaScript expression giving T) every 100 ms until
// ok accepts its value or the step time runs out; then it fails the test
// with the last value (or error) seen. It tolerates errors while a page
// loads.
func poll[T any](b *Tab, what, expr string, ok func(T) bool) T {
	b.t.Helper()
	deadline := time.Now().Add(b.step)
	var (
		last    T
		lastErr error
	)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, time.Second)
		v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
		cancel()
		if err == nil && ok(v) {
			return v
		}
		last, lastErr = v, err
		if b.ctx.Err() != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if lastErr != nil {
		b.fail(what, fmt.Errorf("not done within %s: last error: %w", b.step, lastErr))
	} else {
		b.fail(what, fmt.Errorf("not done within %s: last value %#v", b.step, last))
	}
	return last
}

// js quotes s as a JavaScript string literal.
func js(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}

// WaitText waits until the first element matching the CSS selector sel is
// present and its text contains want, and returns the text.
func (b *Tab) WaitText(what, sel, want string) string {
	b.t.Helper()
	return poll(b, what, fmt.Sprintf(`(e => e ? e.textContent : "")(document.querySelector(%s))`, js(sel)),
		func(text string) bool { return strings.Contains(text, want) })
}

// WaitCount waits until exactly n elements match the CSS selector sel.
func (b *Tab) WaitCount(what, sel string, n int) {
	b.t.Helper()
	poll(b, what, fmt.Sprintf(`document.querySelectorAll(%s).length`, js(sel)), func(got int) bool { return got == n })
}

// Count returns how many elements match the CSS selector sel now.
func (b *Tab) Count(sel string) int {
	b.t.Helper()
	return Run(b, "count "+sel, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%s).length`, js(sel))))
}

// WaitPath waits until the page's location.pathname is path and its
// document has loaded, and returns location.search.
func (b *Tab) WaitPath(what, path string) string {
	b.t.Helper()
	type loc struct {
		Path   string `json:"path"`
		Search string `json:"search"`
		State  string `json:"state"`
	}
	l := poll(b, what, `({path: location.pathname, search: location.search, state: document.readyState})`,
		func(l loc) bool { return l.Path == path && l.State == "complete" })
	return l.Search
}

// SetField sets the value of the form control matching the CSS selector sel
// (a select, or an input the test does not need to type into) and fires
// its input and change events, as a user's choice would.
func (b *Tab) SetField(sel, value string) {
	b.t.Helper()
	expr := fmt.Sprintf(`(e => {
		if (!e) return "no element";
		e.value = %s;
		if (e.value !== %[1]s) return "value not accepted, have " + e.value;
		e.dispatchEvent(new Event("input", {bubbles: true}));
		e.dispatchEvent(new Event("change", {bubbles: true}));
		return "";
	})(document.querySelector(%s))`, js(value), js(sel))
	if msg := Run(b, "set "+sel, chromedp.Evaluate[string](expr)); msg != "" {
		b.fail("set "+sel+" to "+value, errors.New(msg))
	}
}

// SetChecked checks or unchecks the checkbox matching the CSS selector sel
// by clicking it when its state differs.
func (b *Tab) SetChecked(sel string, checked bool) {
	b.t.Helper()
	now := Run(b, "read "+sel, chromedp.JavascriptAttribute[bool](chromedp.CSS(sel), "checked"))
	if now != checked {
		b.Do("click "+sel, chromedp.Click(chromedp.CSS(sel)))
	}
}

// Type replaces the text of the input or textarea matching the CSS
// selector sel by typing text, key by key ("\n" is Enter), into it.
func (b *Tab) Type(sel, text string) {
	b.t.Helper()
	b.Do("type into "+sel,
		chromedp.WaitVisible(chromedp.CSS(sel)),
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(e => { e.focus(); e.select(); })(document.querySelector(%s))`, js(sel))),
		chromedp.KeyEvent(text),
	)
}

// Wait evaluates expr (a JavaScript expression giving T) every 100 ms until
// ok accepts its value, and returns that value; after the step time limit
// it fails the test with the last value seen and a screenshot. Errors while
// a page loads are tolerated.
func Wait[T any](b *Tab, what, expr string, ok func(T) bool) T {
	b.t.Helper()
	return poll(b, what, expr, ok)
}
