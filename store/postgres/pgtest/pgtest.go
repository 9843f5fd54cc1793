// Package pgtest gives tests a private PostgreSQL schema.
//
// The server is CDRGW_TEST_POSTGRES_URL, or
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable. When it cannot be
// reached the test is skipped, unless CDRGW_TEST_POSTGRES is set (as in CI),
// in which case it fails.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultURL is the server used when CDRGW_TEST_POSTGRES_URL is not set.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// BaseURL returns the URL of the test server.
func BaseURL() string {
	if u := os.Getenv("CDRGW_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// URL creates a fresh schema cdrgw_test_<random> and returns a DSN whose
// search_path is that schema. The schema is dropped when the test ends.
func URL(t testing.TB) string {
	t.Helper()
	base := BaseURL()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		if os.Getenv("CDRGW_TEST_POSTGRES") != "" {
			t.Fatalf("pgtest: PostgreSQL is required (CDRGW_TEST_POSTGRES is set) but unreachable: %v", err)
		}
		t.Skipf("pgtest: PostgreSQL unreachable, skipping (set CDRGW_TEST_POSTGRES to make this fatal): %v", err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	rand.Read(b[:])
	schema := "cdrgw_test_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("pgtest: create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("pgtest: drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("pgtest: drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("pgtest: CDRGW_TEST_POSTGRES_URL must be a postgres:// URL")
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
