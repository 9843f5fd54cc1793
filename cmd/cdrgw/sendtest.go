package main

import (
	"context"
	"net/url"
)

func cmdSendTest(ctx context.Context, e env, args []string) int {
	return oneArgManual(ctx, e, args, "send-test", "WEBHOOK", "WEBHOOK name", `
Makes a running gateway render a sample record of WEBHOOK's first event type
and send it once now (POST /api/webhooks/WEBHOOK/test; token from
$CDRGW_ADMIN_TOKEN), and prints the attempt. Nothing is stored or retried.
Exit status 0 when the receiver answered 2xx, 1 otherwise or when the
gateway refused the request (its error is printed).`, func(name string) string { return "/api/webhooks/" + url.PathEscape(name) + "/test" })
}
