package web

import (
	"net/url"

	"github.com/cdrgw/cdrgw/internal/webhookset"
)

// redactURL hides a URL's credentials: the whole userinfo and the values of
// query parameters named like secrets (webhookset.RedactURL).
func redactURL(raw string) string { return webhookset.RedactURL(raw) }

// urlQueryEscape escapes s for a query value.
func urlQueryEscape(s string) string { return url.QueryEscape(s) }

// pathEscape escapes s for one path segment.
func pathEscape(s string) string { return url.PathEscape(s) }
