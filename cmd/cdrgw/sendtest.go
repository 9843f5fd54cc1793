package main

import (
	"context"
	"fmt"
	"net/url"
)

func cmdSendTest(ctx context.Context, e env, args []string) int {
	fs := newFlagSet(e, "send-test", "WEBHOOK [--json] [--server URL]", `
Makes a running gateway render a sample record of WEBHOOK's first event type
and send it once now (POST /api/webhooks/WEBHOOK/test; token from
$CDRGW_ADMIN_TOKEN), and prints the attempt. Nothing is stored or retried.
Exit status 0 when the receiver answered 2xx, 1 otherwise or when the
gateway refused the request (its error is printed).`)
	var cf clientFlags
	cf.register(fs)
	asJSON := fs.Bool("json", false, "print the attempt as JSON")
	rest, code, ok := parse(fs, e, args)
	if !ok {
		return code
	}
	if len(rest) != 1 || rest[0] == "" {
		fmt.Fprintln(e.stderr, "cdrgw send-test: exactly one WEBHOOK name is required")
		fs.Usage()
		return exitUsage
	}
	return manualCommand(ctx, e, "send-test", cf, "/api/webhooks/"+url.PathEscape(rest[0])+"/test", *asJSON)
}
