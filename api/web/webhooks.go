package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/delivery"
)

// sparkHours is how many hourly buckets a sparkline shows.
const sparkHours = 24

// webhookRow is one row of the webhooks table.
type webhookRow struct {
	Name     string
	Status   string // active, paused, inactive, error
	ReadOnly bool
	Events   []cdr.Type
	Encoding string
	URL      string // redacted
	Health   delivery.HealthSnapshot
	Spark    *sparkline
	Error    string // a stored webhook that does not compile
	Running  bool   // the engine runs it (pause and resume apply)
}

type webhooksData struct {
	Rows     []webhookRow
	Editable bool // Options.Webhooks is set
	Since    time.Time
	NoSpark  string // why there are no sparklines, "" when there are
}

func (c *console) webhooksPage(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	since := c.o.Now().UTC().Truncate(time.Hour).Add(-(sparkHours - 1) * time.Hour)
	d := webhooksData{Editable: c.o.Webhooks != nil, Since: since}
	outcomes, note := c.sparkOutcomes(r.Context(), since)
	d.NoSpark = note
	entries := map[string]Entry{}
	if c.o.Webhooks != nil {
		for _, e := range c.o.Webhooks.List() {
			entries[e.Name] = e
		}
	}
	seen := map[string]bool{}
	for _, wi := range c.o.Engine.Webhooks() {
		seen[wi.Name] = true
		row := runningRow(wi, entries, c.o.Webhooks == nil)
		if outcomes != nil {
			row.Spark = newSparkline(since, outcomes[wi.Name])
		}
		d.Rows = append(d.Rows, row)
	}
	d.Rows = append(d.Rows, idleRows(entries, seen)...)
	p := page{Title: "Webhooks", Nav: "webhooks", Data: d, Flash: flash(r.URL.Query())}
	c.render(w, r, rc, http.StatusOK, "webhooks.html", p)
}

// sparkOutcomes returns the outcome counts of the 24 hours from since (nil
// when there are none to show) and a note when they are missing or behind.
func (c *console) sparkOutcomes(ctx context.Context, since time.Time) (map[string][]OutcomeBucket, string) {
	if c.outcomes == nil {
		return nil, "This store does not count outcomes."
	}
	outcomes, stale, err := c.outcomes.get(ctx, since)
	switch {
	case err != nil:
		c.log.Warn("web: webhook outcomes", "err", err)
		return nil, "Outcomes are unavailable: " + err.Error()
	case outcomes == nil:
		return nil, "The last 24 hours' outcomes are still being counted; reload in a moment."
	case stale:
		return outcomes, "The bars are a little behind; they are being counted again."
	}
	return outcomes, ""
}

// runningRow is the row of a webhook the engine runs; readOnly is the
// default when the set does not know it.
func runningRow(wi delivery.WebhookInfo, entries map[string]Entry, readOnly bool) webhookRow {
	row := webhookRow{Name: wi.Name, Events: wi.Events, Encoding: wi.Encoding, URL: redactURL(wi.URL),
		Health: wi.Health, Running: true, ReadOnly: readOnly}
	if e, ok := entries[wi.Name]; ok {
		row.ReadOnly = e.ReadOnly
	}
	switch {
	case wi.Paused:
		row.Status = "paused"
	case !wi.Active:
		row.Status = "inactive"
	default:
		row.Status = "active"
	}
	return row
}

// idleRows are the rows, by name, of the stored webhooks the engine does
// not run: their definition no longer compiles (or the engine has not
// picked them up yet).
func idleRows(entries map[string]Entry, running map[string]bool) []webhookRow {
	names := make([]string, 0, len(entries))
	for n := range entries {
		if !running[n] {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	rows := make([]webhookRow, 0, len(names))
	for _, n := range names {
		e := entries[n]
		row := webhookRow{Name: n, Status: "error", ReadOnly: e.ReadOnly, Error: e.Err}
		if row.Error == "" {
			row.Error, row.Status = "not running yet", "starting"
		}
		rows = append(rows, row)
	}
	return rows
}

// webhookName matches a webhook name (config schema's $defs/name).
var webhookName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,200}$`)

// flash is the message of the redirect after a delete, pause or resume.
// The query holds only a webhook name, so that a link cannot make the page
// show text of its choosing.
func flash(q url.Values) string {
	for _, f := range []struct{ key, msg string }{{"deleted", "deleted"}, {"paused", "paused"}, {"resumed", "resumed"}} {
		if name := q.Get(f.key); webhookName.MatchString(name) {
			return fmt.Sprintf("Webhook %s %s.", name, f.msg)
		}
	}
	return ""
}

// pause pauses or resumes a webhook, then shows the list again.
func (c *console) pause(paused bool) handler {
	return func(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
		name := r.PathValue("name")
		if err := c.o.Engine.SetPaused(r.Context(), name, paused); err != nil {
			c.failErr(w, r, rc, fmt.Sprintf("pause webhook %q", name), err)
			return
		}
		c.log.Info("web: webhook paused state changed", "webhook", name, "paused", paused)
		what := "resumed"
		if paused {
			what = "paused"
		}
		http.Redirect(w, r, "/webhooks?"+what+"="+urlQueryEscape(name), http.StatusSeeOther)
	}
}

// sparkline is a bar chart of hourly outcomes, drawn as inline SVG.
type sparkline struct {
	Width, Height int
	Bars          []sparkBar
	OK, Failed    int
}

// sparkBar is one hour: an ok part below a failed part.
type sparkBar struct {
	X, W                   int
	OKY, OKH, FailY, FailH int
	Title                  string
}

const (
	sparkBarW  = 4
	sparkGap   = 1
	sparkH     = 24
	sparkMinPx = 2 // a non-empty hour is at least this tall
)

// newSparkline lays out 24 hourly buckets starting at since; buckets
// outside the range are ignored.
func newSparkline(since time.Time, buckets []OutcomeBucket) *sparkline {
	var ok, failed [sparkHours]int
	for _, b := range buckets {
		i := int(b.Start.Sub(since) / time.Hour)
		if b.Start.Before(since) || i >= sparkHours {
			continue
		}
		ok[i] += b.OK
		failed[i] += b.Failed
	}
	maxTotal := 0
	for i := range ok {
		maxTotal = max(maxTotal, ok[i]+failed[i])
	}
	s := &sparkline{Width: sparkHours * (sparkBarW + sparkGap), Height: sparkH}
	for i := range ok {
		b := sparkBar{X: i * (sparkBarW + sparkGap), W: sparkBarW,
			Title: fmt.Sprintf("%s UTC: %d ok, %d failed", since.Add(time.Duration(i)*time.Hour).Format("Jan 2 15:00"), ok[i], failed[i])}
		s.OK += ok[i]
		s.Failed += failed[i]
		if total := ok[i] + failed[i]; total > 0 {
			h := max(sparkMinPx, total*sparkH/maxTotal)
			b.FailH = failed[i] * h / total
			if failed[i] > 0 && b.FailH == 0 {
				b.FailH = 1
			}
			b.OKH = h - b.FailH
			b.OKY = sparkH - b.OKH
			b.FailY = b.OKY - b.FailH
		} else {
			b.OKY, b.FailY = sparkH, sparkH
		}
		s.Bars = append(s.Bars, b)
	}
	return s
}
