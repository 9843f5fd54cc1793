package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/cdrgw/cdrgw/api"
)

func cmdDeliveries(ctx context.Context, e env, args []string) int {
	fs := newFlagSet(e, "deliveries", "[--webhook W] [--status S] [--event-type T] [--since T] [--until T] [--limit N] [--cursor C] [--all] [--json] [--server URL]", `
Lists the deliveries of a running gateway, newest first, through its admin
API (GET /api/deliveries; token from $CDRGW_ADMIN_TOKEN): a table by
default, one JSON object per line with --json. One page of --limit rows is
printed (the cursor of the next page goes to standard error) unless --all
pages through every match. Filters combine; --since and --until are RFC 3339
times bounding the creation time. Exit status 1 when the gateway refuses
the request (its error is printed) or cannot be reached.`)
	var cf clientFlags
	cf.register(fs)
	webhook := fs.String("webhook", "", "only deliveries to this webhook")
	status := fs.String("status", "", "only this status: pending, delivered, failed or dead")
	eventType := fs.String("event-type", "", "only this event type, e.g. queue.ended")
	since := fs.String("since", "", "only deliveries created at or after this RFC 3339 time")
	until := fs.String("until", "", "only deliveries created before this RFC 3339 time")
	limit := fs.Int("limit", 0, "page size, 1 to 1000 (default 100)")
	cursor := fs.String("cursor", "", "start at this page (the next_cursor of a previous one)")
	all := fs.Bool("all", false, "print every page")
	asJSON := fs.Bool("json", false, "print one JSON object per line")
	rest, code, ok := parse(fs, e, args)
	if !ok {
		return code
	}
	if len(rest) > 0 {
		fmt.Fprintf(e.stderr, "cdrgw deliveries: unexpected arguments %q\n", rest)
		return exitUsage
	}
	c, err := cf.client()
	if err != nil {
		fmt.Fprintf(e.stderr, "cdrgw deliveries: %v\n", err)
		return exitUsage
	}
	q := url.Values{}
	for k, v := range map[string]string{"webhook": *webhook, "status": *status, "event_type": *eventType, "since": *since, "until": *until, "cursor": *cursor} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if *limit != 0 {
		q.Set("limit", strconv.Itoa(*limit))
	}
	out := bufio.NewWriter(e.stdout)
	defer out.Flush()
	var tw *tabwriter.Writer
	if !*asJSON {
		tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tWEBHOOK\tEVENT TYPE\tSTATUS\tATTEMPTS\tCREATED\tNEXT ATTEMPT\tEVENT ID")
	}
	n := 0
	for {
		var page api.DeliveryPage
		if err := c.do(ctx, "GET", "/api/deliveries", q, &page); err != nil {
			if tw != nil {
				tw.Flush()
			}
			out.Flush()
			fmt.Fprintf(e.stderr, "cdrgw deliveries: %v\n", err)
			return exitFail
		}
		for _, d := range page.Items {
			n++
			if *asJSON {
				b, _ := json.Marshal(d)
				out.Write(append(b, '\n'))
				continue
			}
			next := "-"
			if d.NextAttemptAt != nil {
				next = d.NextAttemptAt.Local().Format(time.DateTime)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", d.ID, d.Webhook, d.EventType, d.Status, d.Attempts,
				d.CreatedAt.Local().Format(time.DateTime), next, d.EventID)
		}
		if page.NextCursor == "" {
			break
		}
		if !*all {
			fmt.Fprintf(e.stderr, "more deliveries: run again with --cursor %s, or use --all\n", page.NextCursor)
			break
		}
		q.Set("cursor", page.NextCursor)
	}
	if tw != nil {
		tw.Flush()
	}
	if !*asJSON && n == 0 {
		fmt.Fprintln(e.stderr, "no deliveries match")
	}
	return exitOK
}
