package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/e2e/browser"
	"github.com/cdrgw/cdrgw/internal/receiver"
	"github.com/cdrgw/cdrgw/mapping"
)

// adminToken is the admin token of the browser test's gateway.
const adminToken = "e2e-admin-token"

// browserWebhook is the webhook the browser test creates in the console.
const browserWebhook = "crm-browser"

// Parameter maps the browser test types into the editor, one `name:
// expression` per line: a first line, the whole map, and the map with a
// misspelled field on line 2.
const (
	paramsFirst = "event: event.type"
	paramsFull  = "event: event.type\ncaller: record.caller.number\nqueue: record.queue.name"
	paramsTypo  = "event: event.type\ncaller: record.caler.number\nqueue: record.queue.name"
)

// lineColumn finds a line and a column in a compile error message, and
// typoLine the line of paramsTypo that holds the typo.
var (
	lineColumn = regexp.MustCompile(`(?i)\bline \d+, column \d+\b`)
	typoLine   = regexp.MustCompile(`(?i)\bline 2\b`)
)

// TestBrowserConsole drives the web console in headless Chromium against the
// real binary: sign in, create a webhook with a JSON parameter map while the
// preview follows the typing and a misspelled field shows a compile error
// with line and column, send a test to the loopback receiver, save, ingest a
// Teams record, find its delivery, resend it and see the second attempt, sign
// out, and find the webhook again after a restart on the same SQLite file.
// Screenshots go to $CDRGW_TEST_OUTPUT/TestBrowserConsole or
// testdata/out/TestBrowserConsole.
func TestBrowserConsole(t *testing.T) {
	started := time.Now()
	sc := startConsoleScenario(t)
	sc.signIn()
	sc.createWebhook()
	sc.resendDelivery()
	sc.signOut()
	sc.restart()
	took := time.Since(started)
	if took > 90*time.Second {
		t.Errorf("the browser test took %s, want at most 90s", took.Round(time.Second))
	}
	t.Logf("scenario done in %s; screenshots in %s", took.Round(100*time.Millisecond), sc.tab.OutputDir())
}

// consoleScenario is the state TestBrowserConsole's steps share.
type consoleScenario struct {
	t       *testing.T
	gw      *gateway
	rcv     *receiver.Receiver
	tab     *browser.Tab
	sample  *cdr.Queue // the editor's queue.ended sample record
	hookURL string     // the created webhook's URL at the receiver
}

// startConsoleScenario starts a receiver that answers the created webhook's
// path with 201 "browser-ok", a gateway with an admin token on a fresh
// SQLite file, and Chromium.
func startConsoleScenario(t *testing.T) *consoleScenario {
	rcv := receiver.Start(t, func(r *receiver.Request) receiver.Response {
		if r.Path == "/browser" {
			return receiver.Response{Status: http.StatusCreated, Body: "browser-ok"}
		}
		return receiver.Response{}
	})
	cfg := gatewayConfig{Store: sqliteURL(t), Receiver: rcv.URL, Listen: freeAddr(t)}
	gw := newGateway(t, "gw", cfg)
	// newGateway wrote cfg.yaml(); the console needs an admin token too.
	if err := os.WriteFile(gw.cfgPath, []byte("admin_token: "+adminToken+"\n"+cfg.yaml()), 0o600); err != nil {
		t.Fatal(err)
	}
	gw.mustStart()
	sample, ok := mapping.SampleEvent(cdr.TypeQueueEnded).Record.(*cdr.Queue)
	if !ok {
		t.Fatalf("the %s sample record is not a *cdr.Queue", cdr.TypeQueueEnded)
	}
	return &consoleScenario{t: t, gw: gw, rcv: rcv, tab: browser.Start(t, 90*time.Second), sample: sample, hookURL: rcv.URL + "/browser"}
}

// signIn visits a page without a session, is led to the sign-in form,
// which refuses a wrong token and accepts the admin token, and checks the
// session cookie.
func (sc *consoleScenario) signIn() {
	tab := sc.tab
	tab.Do("open /webhooks signed out", chromedp.Navigate(sc.gw.URL+"/webhooks"))
	tab.WaitPath("redirect to /login", "/login")
	tab.Do("sign-in form", chromedp.WaitVisible(chromedp.CSS("form#login")))
	tab.Screenshot("login")
	tab.Type("#token", "not-the-token")
	tab.Do("submit a wrong token", chromedp.Click(chromedp.CSS("#login-submit")))
	tab.WaitText("wrong token refused", ".error", "token")
	signIn(tab)
	tab.WaitPath("back to /webhooks after sign-in", "/webhooks")
	checkSessionCookie(sc.t, tab)
}

// createWebhook fills the editor: the preview follows the typing, a
// misspelled field is a compile error with line and column, Send test
// reaches the receiver; then it saves.
func (sc *consoleScenario) createWebhook() {
	t, tab := sc.t, sc.tab
	tab.Do("open the editor", chromedp.Click(chromedp.CSS("a#new-webhook")))
	tab.WaitPath("editor", "/webhooks/new")
	tab.Do("editor form", chromedp.WaitVisible(chromedp.CSS("form#webhook-form")))
	tab.Type(`form#webhook-form [name=name]`, browserWebhook)
	tab.Type(`form#webhook-form [name=url]`, sc.hookURL)
	// Subscribe to queue.ended only (the form may preselect others).
	events := browser.Run(tab, "event checkboxes", chromedp.Evaluate[[]string](
		`[...document.querySelectorAll("form#webhook-form input[name=events]")].map(e => e.value)`))
	if !slices.Contains(events, string(cdr.TypeQueueEnded)) {
		t.Fatalf("editor offers events %v, want %s among them", events, cdr.TypeQueueEnded)
	}
	for _, ev := range events {
		tab.SetChecked(`form#webhook-form input[name=events][value="`+ev+`"]`, ev == string(cdr.TypeQueueEnded))
	}
	tab.SetChecked(`form#webhook-form input[name=active]`, true)
	tab.SetField(`form#webhook-form select[name=method]`, "POST")
	tab.SetField(`form#webhook-form select[name=encoding]`, "json")
	tab.SetField(`select#sample`, string(cdr.TypeQueueEnded))

	tab.Type(`form#webhook-form textarea[name=params]`, paramsFirst)
	tab.WaitText("preview of the first parameter", "pre#preview-request", `"event"`)
	preview := tab.WaitText("preview names the URL", "pre#preview-request", sc.hookURL)
	if strings.Contains(preview, sc.sample.Caller.Number) {
		t.Errorf("preview shows the caller number before the caller parameter was typed:\n%s", preview)
	}
	tab.Type(`form#webhook-form textarea[name=params]`, paramsFull)
	tab.WaitText("preview after typing the caller parameter", "pre#preview-request", sc.sample.Caller.Number)
	preview = tab.WaitText("preview after typing the queue parameter", "pre#preview-request", sc.sample.Queue.Name)
	t.Logf("preview:\n%s", preview)
	tab.Screenshot("editor-preview")

	tab.Type(`form#webhook-form textarea[name=params]`, paramsTypo)
	msg := tab.WaitText("compile error for record.caler.number", ".preview-error", "caler")
	if !lineColumn.MatchString(msg) {
		t.Errorf(".preview-error %q does not name a line and a column", msg)
	}
	if !typoLine.MatchString(msg) {
		t.Errorf(".preview-error %q does not point at line 2 of the params box, where the typo is", msg)
	}
	t.Logf("compile error: %s", msg)
	tab.Screenshot("editor-compile-error")

	tab.Type(`form#webhook-form textarea[name=params]`, paramsFull)
	tab.WaitCount("compile error gone after the fix", ".preview-error", 0)
	tab.WaitText("preview back after the fix", "pre#preview-request", sc.sample.Caller.Number)

	before := len(requestsTo(sc.rcv.Requests(), "/browser"))
	tab.Do("send test", chromedp.Click(chromedp.CSS("#send-test")))
	result := tab.WaitText("test result shows the receiver's status", "#test-result", "201")
	if !strings.Contains(result, "browser-ok") {
		t.Errorf("#test-result %q does not show the response body %q", result, "browser-ok")
	}
	tab.Screenshot("editor-test-sent")
	sent := requestsTo(sc.rcv.Requests(), "/browser")
	if len(sent) != before+1 {
		t.Fatalf("receiver got %d requests at /browser after Send test, want %d", len(sent), before+1)
	}
	checkBody(t, "test send", sent[len(sent)-1], map[string]string{
		"event": string(cdr.TypeQueueEnded), "caller": sc.sample.Caller.Number, "queue": sc.sample.Queue.Name})

	tab.Do("save", chromedp.Click(chromedp.CSS("#save")))
	waitLeave(t, tab, "/webhooks/new")
	tab.Do("open /webhooks", chromedp.Navigate(sc.gw.URL+"/webhooks"))
	tab.Do("row of the new webhook", chromedp.WaitVisible(chromedp.CSS(`table#webhooks tr[data-webhook="`+browserWebhook+`"]`)))
	tab.Screenshot("webhooks")
	if w := tab.PhoneScreenshot("webhooks-phone"); w > browser.PhoneWidth {
		t.Errorf("/webhooks at phone width is %d px wide, want at most %d (no sideways scrolling)", w, browser.PhoneWidth)
	}
}

// resendDelivery posts a Teams record, checks what the new webhook sent,
// finds the delivery with the webhook filter, resends it and sees the
// second attempt.
func (sc *consoleScenario) resendDelivery() {
	t, tab := sc.t, sc.tab
	before := len(requestsTo(sc.rcv.Requests(), "/browser"))
	callID := t.Name() + "-1"
	mustPost(t, newClient(t), sc.gw.URL, teamsToken, mustJSON(t, queueRecord(callID, 0)), http.StatusAccepted)
	got := waitRequests(t, sc.rcv, "/browser", before+1)
	delivered := got[len(got)-1]
	id := delivered.Header.Get("webhook-id")
	rec := queueRecord(callID, 0)
	checkBody(t, "delivery", delivered, map[string]string{
		"event": string(cdr.TypeQueueEnded), "caller": rec["CallerNumber"].(string), "queue": rec["QueueName"].(string)})

	tab.Do("open /deliveries", chromedp.Navigate(sc.gw.URL+"/deliveries"))
	tab.Do("filter form", chromedp.WaitVisible(chromedp.CSS("form#filter")))
	tab.SetField(`form#filter [name=webhook]`, browserWebhook)
	tab.Do("apply the filter", chromedp.Submit(chromedp.CSS(`form#filter [name=webhook]`)))
	if q := tab.WaitPath("filtered deliveries", "/deliveries"); !strings.Contains(q, "webhook="+browserWebhook) {
		t.Errorf("filtered /deliveries has query %q, want webhook=%s", q, browserWebhook)
	}
	row := `table#deliveries tr[data-delivery="` + id + `"]`
	tab.WaitCount("the delivery's row", row, 1)
	if n := tab.Count("table#deliveries tr[data-delivery]"); n != 1 {
		t.Errorf("deliveries filtered by webhook %s: %d rows, want 1 (the config webhook's delivery of the same event must be left out)", browserWebhook, n)
	}
	tab.Screenshot("deliveries-filtered")
	tab.Do("open the delivery", chromedp.Click(chromedp.CSS(row+" a")))
	tab.WaitPath("delivery page", "/deliveries/"+id)
	tab.Do("delivery", chromedp.WaitVisible(chromedp.CSS("#delivery")))
	tab.WaitCount("one attempt", "table#attempts tr.attempt", 1)
	tab.WaitText("first attempt's status", "table#attempts tr.attempt td.status", "201")
	tab.Do("resend", chromedp.Click(chromedp.CSS("button#resend")))
	tab.WaitCount("second attempt after resend", "table#attempts tr.attempt", 2)
	statuses := browser.Run(tab, "attempt statuses", chromedp.Evaluate[[]string](
		`[...document.querySelectorAll("table#attempts tr.attempt td.status")].map(e => e.textContent.trim())`))
	for i, s := range statuses {
		if !strings.Contains(s, "201") {
			t.Errorf("attempt %d status %q, want 201", i+1, s)
		}
	}
	tab.Screenshot("delivery-resent")
	if n := countID(requestsTo(sc.rcv.Requests(), "/browser"), id); n != 2 {
		t.Errorf("receiver got delivery %s %d times, want 2 (sent, resent)", id, n)
	}
}

// signOut signs out: the console is closed again, to the browser and to a
// client without the cookie.
func (sc *consoleScenario) signOut() {
	tab := sc.tab
	tab.Do("sign out", chromedp.Click(chromedp.CSS("button#logout")))
	tab.WaitPath("signed out", "/login")
	tab.Do("open /deliveries signed out", chromedp.Navigate(sc.gw.URL+"/deliveries"))
	tab.WaitPath("/deliveries signed out redirects", "/login")
	tab.Screenshot("signed-out")
	checkRedirectsToLogin(sc.t, sc.gw.URL+"/webhooks")
}

// restart restarts the gateway on the same SQLite file: the created
// webhook is listed, with its parameter map, after signing in again.
func (sc *consoleScenario) restart() {
	t, tab := sc.t, sc.tab
	if code, _, err := sc.gw.stop(syscall.SIGTERM, 10*time.Second); err != nil || code != 0 {
		t.Fatalf("stop the gateway: exit status %d, %v", code, err)
	}
	sc.gw.mustStart()
	tab.Do("open /webhooks after restart", chromedp.Navigate(sc.gw.URL+"/webhooks"))
	tab.WaitPath("sign-in after restart", "/login")
	signIn(tab)
	tab.WaitPath("/webhooks after restart", "/webhooks")
	tab.Do("row after restart", chromedp.WaitVisible(chromedp.CSS(`table#webhooks tr[data-webhook="`+browserWebhook+`"]`)))
	tab.Screenshot("webhooks-after-restart")
	tab.Do("open the stored webhook", chromedp.Navigate(sc.gw.URL+"/webhooks/"+browserWebhook+"/edit"))
	params := browser.Run(tab, "stored parameter map", chromedp.Value(chromedp.CSS(`form#webhook-form textarea[name=params]`)))
	if normalizeLines(params) != paramsFull {
		t.Errorf("stored webhook's params after restart:\n%s\nwant:\n%s", params, paramsFull)
	}
}

// signIn signs in on the /login page with the admin token.
func signIn(tab *browser.Tab) {
	tab.Do("sign-in form", chromedp.WaitVisible(chromedp.CSS("form#login")))
	tab.Type("#token", adminToken)
	tab.Do("sign in", chromedp.Click(chromedp.CSS("#login-submit")))
}

// checkSessionCookie checks the session cookie's attributes and that page
// scripts cannot read it.
func checkSessionCookie(t *testing.T, tab *browser.Tab) {
	t.Helper()
	cookies := browser.Run(tab, "cookies", func(ctx context.Context, tg *chromedp.Target) ([]*network.Cookie, error) {
		res, err := cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{})
		return res.Cookies, err
	})
	var found bool
	for _, ck := range cookies {
		if ck.Name != "cdrgw_session" {
			continue
		}
		found = true
		if !ck.HTTPOnly || ck.SameSite != network.CookieSameSiteStrict || ck.Path != "/" {
			t.Errorf("cookie cdrgw_session: HttpOnly %v, SameSite %q, Path %q; want HttpOnly, Strict, /", ck.HTTPOnly, ck.SameSite, ck.Path)
		}
		if strings.Contains(ck.Value, adminToken) {
			t.Errorf("cookie cdrgw_session holds the admin token")
		}
	}
	if !found {
		t.Errorf("no cdrgw_session cookie after sign-in (cookies: %d)", len(cookies))
	}
	if jsCookies := browser.Run(tab, "document.cookie", chromedp.Evaluate[string](`document.cookie`)); strings.Contains(jsCookies, "cdrgw_session") {
		t.Errorf("document.cookie %q shows the session cookie to scripts", jsCookies)
	}
}

// waitLeave waits until the page has left path (a form post answered with
// a redirect). A page that stays, such as a form shown again with errors,
// fails the test with its .error text and a screenshot.
func waitLeave(t *testing.T, tab *browser.Tab, path string) {
	t.Helper()
	deadline := time.Now().Add(browser.StepTimeout)
	for time.Now().Before(deadline) {
		loc, err := chromedp.Run(tab.Context(), chromedp.Evaluate[string](`document.readyState === "complete" ? location.pathname : ""`))
		if err == nil && loc != "" && loc != path {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	errText := browser.Run(tab, "read .error", chromedp.Evaluate[string](
		`[...document.querySelectorAll(".error")].map(e => e.textContent.trim()).join(" | ")`))
	tab.Screenshot("failed-leave")
	t.Fatalf("still on %s after %s; errors shown: %q", path, browser.StepTimeout, errText)
}

// checkRedirectsToLogin checks that a GET of u without a cookie is
// redirected to /login.
func checkRedirectsToLogin(t *testing.T, u string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	defer c.CloseIdleConnections()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode/100 != 3 || loc == nil || loc.Path != "/login" {
		t.Errorf("GET %s without a cookie: %d, Location %q; want a redirect to /login", u, resp.StatusCode, resp.Header.Get("Location"))
	}
}

// requestsTo returns the requests of reqs to path.
func requestsTo(reqs []receiver.Request, path string) []receiver.Request {
	var out []receiver.Request
	for _, r := range reqs {
		if r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// waitRequests waits up to 10 s until the receiver got n requests to path
// and returns them.
func waitRequests(t *testing.T, rcv *receiver.Receiver, path string, n int) []receiver.Request {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		all := rcv.Requests()
		if got := requestsTo(all, path); len(got) >= n {
			return got
		}
		if rcv.Wait(ctx, len(all)+1); ctx.Err() != nil {
			t.Fatalf("receiver: %d requests to %s after 10s, want %d", len(requestsTo(rcv.Requests(), path)), path, n)
		}
	}
}

// countID counts the requests with the delivery id id.
func countID(reqs []receiver.Request, id string) int {
	n := 0
	for _, r := range reqs {
		if r.Header.Get("webhook-id") == id {
			n++
		}
	}
	return n
}

// checkBody checks that r's JSON body is exactly want.
func checkBody(t *testing.T, what string, r receiver.Request, want map[string]string) {
	t.Helper()
	var got map[string]any
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Errorf("%s: body %q is not a JSON object: %v", what, r.Body, err)
		return
	}
	if len(got) != len(want) {
		t.Errorf("%s: body %s, want the keys of %v", what, r.Body, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: body %s: %s = %v, want %q", what, r.Body, k, got[k], v)
		}
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q, want application/json", what, ct)
	}
}

// normalizeLines trims each line and drops empty ones and CRs (a textarea
// submits CRLF line ends).
func normalizeLines(s string) string {
	var out []string
	for line := range strings.SplitSeq(strings.ReplaceAll(s, "\r", ""), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
