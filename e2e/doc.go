// Package e2e holds cdrgw's end-to-end tests: they build the real cdrgw
// binary once per run, start it with generated configs, post Teams records
// to it over loopback HTTP and watch the webhooks it sends arrive at an
// internal/receiver in the test process.
//
// The crash tests (TestCrash*, also run by `make crash-test`) kill the
// gateway with SIGKILL at three seeded random moments while records are being
// posted and delivered, restart it on the same store, and check that every
// event the gateway acknowledged with 202 reached the receiver, with no more
// duplicates than there were attempts in flight at the kills (deliveries
// the killed process held leased and had sent), checked per delivery. They
// run on SQLite and on PostgreSQL (store/postgres/pgtest).
//
// The replica test starts three gateways on one PostgreSQL schema and checks
// that they share the work and that each delivery is sent exactly once. The
// serve tests cover health, readiness, metrics, the Teams ingest endpoint,
// graceful stop on SIGTERM and JSON logs.
//
// Set CDRGW_E2E_SEED to replay the random choices of a failed crash run (the
// seed is logged). The crash tests take about 40 s each, most of it waiting
// for the leases of the killed processes (webhook timeout + 30 s) to expire;
// -short skips them. CDRGW_E2E_BINARY tests a prebuilt binary instead of
// building one; CDRGW_E2E_RACE=1 builds it with the race detector (slow on
// SQLite).
//
// The browser test (TestBrowserConsole) drives the web console in headless
// Chromium (/usr/bin/chromium, via package e2e/browser and chromedp):
// sign-in, the webhook editor's live preview, compile errors and test sends,
// the delivery log's filter and resend, sign-out, and the webhook surviving
// a restart. It saves full-page screenshots (1280×800, and one at 375×812)
// under $CDRGW_TEST_OUTPUT/<TestName> or e2e/testdata/out/<TestName>, and
// skips without Chromium unless CDRGW_REQUIRE_PEERS is set.
// TestBrowserSources, TestBrowserEvents, TestBrowserWebhooksPause,
// TestBrowserDeleteWebhook and TestBrowserPhoneWidth cover the sources page,
// event search and replay, pause/resume and read-only webhooks, deletion,
// and 375 px layouts; TestBrowserPageLoad times each page with 100,000
// deliveries filled by browser/testdata/fillstore (built without -race).
package e2e
