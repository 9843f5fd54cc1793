package browser

import (
	"fmt"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// page is 2000 px tall, so a full-page screenshot is taller than the
// viewport, and types into #out what is typed into #in.
const page = `<!doctype html><meta name=viewport content="width=device-width">
<title>t</title><body style="margin:0"><form><input id=in><textarea id=ta>old text</textarea>
<select id=sel><option>a<option>b</select><input type=checkbox id=cb></form>
<p id=out></p><p id=changes></p><div style="height:2000px"></div>
<script>
document.forms[0].addEventListener("input", e => {
  document.getElementById("out").textContent = "typed " + e.target.id + "=" + e.target.value });
document.forms[0].addEventListener("change", e => {
  document.getElementById("changes").textContent += e.target.id + " " });
</script>`

func TestTab(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, page)
	}))
	defer srv.Close()
	out := t.TempDir()
	t.Setenv("CDRGW_TEST_OUTPUT", out)

	tab := Start(t, 60*time.Second)
	tab.Do("open page", chromedp.Navigate(srv.URL), chromedp.SendKeys(chromedp.CSS("#in"), "abc"))
	if got := Run(tab, "read #out", chromedp.Text(chromedp.CSS("#out"))); got != "typed in=abc" {
		t.Errorf("#out = %q, want %q", got, "typed in=abc")
	}
	tab.Type("#ta", "new\ntext")
	tab.WaitText("typing into the textarea", "#out", "typed ta=new\ntext")
	tab.SetField("#sel", "b")
	tab.WaitText("choosing b", "#changes", "sel")
	tab.SetChecked("#cb", true)
	tab.SetChecked("#cb", true) // no change
	// Blurring a typed-into field fires its change event too; the select
	// and the checkbox must each have fired exactly one.
	got := strings.Fields(Run(tab, "read #changes", chromedp.Text(chromedp.CSS("#changes"))))
	for _, id := range []string{"sel", "cb"} {
		if n := slices.Index(got, id); n < 0 || slices.Index(got[n+1:], id) >= 0 {
			t.Errorf("change events on %q, want one on %s", got, id)
		}
	}
	if n := tab.Count("form > *"); n != 4 {
		t.Errorf("Count(form > *) = %d, want 4", n)
	}
	tab.WaitCount("four form controls", "form > *", 4)
	if got := tab.WaitPath("path", "/"); got != "" {
		t.Errorf("location.search = %q, want empty", got)
	}
	tab.Screenshot("desktop")
	if w := tab.PhoneScreenshot("phone"); w != PhoneWidth {
		t.Errorf("scroll width at phone width = %d, want %d", w, PhoneWidth)
	}
	tab.Screenshot("desktop") // saved as desktop-2.png

	for _, tc := range []struct {
		file      string
		width     int
		minHeight int
	}{
		{"desktop.png", DesktopWidth, 2000},
		{"phone.png", PhoneWidth, 2000},
		{"desktop-2.png", DesktopWidth, 2000},
	} {
		f, err := os.Open(filepath.Join(out, "TestTab", tc.file))
		if err != nil {
			t.Error(err)
			continue
		}
		cfg, err := png.DecodeConfig(f)
		f.Close()
		if err != nil {
			t.Errorf("%s: %v", tc.file, err)
			continue
		}
		if cfg.Width != tc.width || cfg.Height < tc.minHeight {
			t.Errorf("%s: %d×%d, want %d wide and at least %d high (the full page)", tc.file, cfg.Width, cfg.Height, tc.width, tc.minHeight)
		}
	}
}

func TestFileName(t *testing.T) {
	for in, want := range map[string]string{
		"TestBrowser/sub test": "TestBrowser_sub_test",
		"failed-open /login":   "failed-open_login",
		"a.b-c_d":              "a.b-c_d",
	} {
		if got := fileName(in); got != want {
			t.Errorf("fileName(%q) = %q, want %q", in, got, want)
		}
	}
}

// stopTB records the first Skipf or Fatalf and stops the goroutine, as
// testing.T does.
type stopTB struct {
	testing.TB
	skipped, fatal string
}

func (s *stopTB) Helper() {}
func (s *stopTB) Skipf(format string, args ...any) {
	s.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (s *stopTB) Fatalf(format string, args ...any) {
	s.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestStartWithoutChromium(t *testing.T) {
	execPath = filepath.Join(t.TempDir(), "no-chromium")
	t.Cleanup(func() { execPath = ExecPath })
	for _, tc := range []struct {
		require     string
		skip, fatal bool
	}{
		{require: "", skip: true},
		{require: "1", fatal: true},
	} {
		t.Setenv("CDRGW_REQUIRE_PEERS", tc.require)
		tb := &stopTB{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			Start(tb, time.Second)
		}()
		<-done
		if (tb.skipped != "") != tc.skip || (tb.fatal != "") != tc.fatal {
			t.Errorf("CDRGW_REQUIRE_PEERS=%q: skipped %q, fatal %q; want skip %v, fatal %v", tc.require, tb.skipped, tb.fatal, tc.skip, tc.fatal)
		}
		for _, msg := range []string{tb.skipped, tb.fatal} {
			if msg != "" && !strings.Contains(msg, execPath) {
				t.Errorf("message %q does not name %s", msg, execPath)
			}
		}
	}
}
