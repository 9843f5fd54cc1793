package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/cdrgw/cdrgw/api"
)

func cmdResend(ctx context.Context, e env, args []string) int {
	return oneArgManual(ctx, e, args, "resend", "ID", "delivery ID", `
Sends delivery ID once more now through a running gateway (POST
/api/deliveries/ID/resend; token from $CDRGW_ADMIN_TOKEN) and prints the
attempt. The attempt is logged as a manual one and never retried. Exit
status 0 when the receiver answered 2xx, 1 otherwise or when the gateway
refused the request (its error is printed).`, func(id string) string { return "/api/deliveries/" + url.PathEscape(id) + "/resend" })
}

// oneArgManual runs a client command that takes one argument and posts one
// manual send (resend, send-test) to the path built from it.
func oneArgManual(ctx context.Context, e env, args []string, name, arg, what, description string, path func(string) string) int {
	fs := newFlagSet(e, name, arg+" [--json] [--server URL]", description)
	var cf clientFlags
	cf.register(fs)
	asJSON := fs.Bool("json", false, "print the attempt as JSON")
	rest, code, ok := parse(fs, e, args)
	if !ok {
		return code
	}
	if len(rest) != 1 || rest[0] == "" {
		fmt.Fprintf(e.stderr, "cdrgw %s: exactly one %s is required\n", name, what)
		fs.Usage()
		return exitUsage
	}
	return manualCommand(ctx, e, name, cf, path(rest[0]), *asJSON)
}

// manualCommand posts to a resend or test endpoint and prints the attempt.
func manualCommand(ctx context.Context, e env, name string, cf clientFlags, path string, asJSON bool) int {
	c, err := cf.client()
	if err != nil {
		fmt.Fprintf(e.stderr, "cdrgw %s: %v\n", name, err)
		return exitUsage
	}
	var at api.AttemptJSON
	if err := c.do(ctx, http.MethodPost, path, nil, &at); err != nil {
		fmt.Fprintf(e.stderr, "cdrgw %s: %v\n", name, err)
		return exitFail
	}
	if asJSON {
		b, _ := json.MarshalIndent(at, "", "  ")
		fmt.Fprintf(e.stdout, "%s\n", b)
	} else {
		printAttempt(e.stdout, at)
	}
	if !at.OK {
		if at.Error != "" {
			fmt.Fprintf(e.stderr, "cdrgw %s: attempt failed: %s\n", name, at.Error)
		} else if at.Response != nil {
			fmt.Fprintf(e.stderr, "cdrgw %s: attempt failed: receiver answered %d\n", name, at.Response.Status)
		}
		return exitFail
	}
	return exitOK
}

// printAttempt writes a short human summary of an attempt.
func printAttempt(w io.Writer, at api.AttemptJSON) {
	result := "no response"
	if at.Response != nil {
		result = fmt.Sprintf("%d %s", at.Response.Status, http.StatusText(at.Response.Status))
	}
	fmt.Fprintf(w, "delivery %s attempt %d (manual): %s in %d ms\n", at.DeliveryID, at.N, result, at.LatencyMS)
	fmt.Fprintf(w, "event:    %s (%s)\n", at.EventID, at.EventType)
	fmt.Fprintf(w, "request:  %s %s\n", at.Request.Method, at.Request.URL)
	if at.Error != "" {
		fmt.Fprintf(w, "error:    %s\n", at.Error)
	}
	if at.Response != nil && at.Response.Body != "" {
		fmt.Fprintf(w, "response: %s\n", at.Response.Body)
	}
}
