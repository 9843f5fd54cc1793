package storeurl_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cdrgw/cdrgw/store/postgres/pgtest"
	"github.com/cdrgw/cdrgw/store/storeurl"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in, kind, dsn, err string
	}{
		{"sqlite://cdrgw.db", "sqlite", "cdrgw.db", ""},
		{"sqlite://data/cdrgw.db", "sqlite", "data/cdrgw.db", ""},
		{"sqlite:///var/lib/cdrgw/cdrgw.db", "sqlite", "/var/lib/cdrgw/cdrgw.db", ""},
		{"sqlite://:memory:", "sqlite", ":memory:", ""},
		{"sqlite://my%20db.db", "sqlite", "my db.db", ""},
		{"postgres://gw@127.0.0.1:5432/cdrgw", "postgres", "postgres://gw@127.0.0.1:5432/cdrgw", ""},
		{"postgresql://gw:pw@db/cdrgw?sslmode=disable", "postgres", "postgresql://gw:pw@db/cdrgw?sslmode=disable", ""},
		{"mysql://root:secret@db/cdrgw", "", "", `store URL "mysql://root:xxxxx@db/cdrgw": unknown scheme "mysql" (want sqlite or postgres)`},
		{"cdrgw.db", "", "", `store URL "cdrgw.db": want sqlite://PATH or postgres://...`},
		{"sqlite://", "", "", `store URL "sqlite://": path: is required`},
		{"sqlite://x.db?mode=ro", "", "", `store URL "sqlite://x.db?mode=ro": sqlite URLs take no query or fragment`},
		{"postgres://u:p%zz@h/db", "", "", `store URL "postgres://xxxxx@h/db": is not a valid URL`},
	}
	for _, tc := range tests {
		kind, dsn, err := storeurl.Parse(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("Parse(%q) error = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || string(kind) != tc.kind || dsn != tc.dsn {
			t.Errorf("Parse(%q) = %q, %q, %v; want %q, %q", tc.in, kind, dsn, err, tc.kind, tc.dsn)
		}
	}
}

func TestOpenSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	for _, u := range []string{"sqlite://" + path, "sqlite://:memory:"} {
		s, err := storeurl.Open(t.Context(), u)
		if err != nil {
			t.Fatalf("Open(%q): %v", u, err)
		}
		if err := s.Ping(t.Context()); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
}

func TestOpenPostgres(t *testing.T) {
	s, err := storeurl.Open(t.Context(), pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestOpenErrorHidesPassword(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for _, u := range []string{
		"postgres://gw:hunter2secret@127.0.0.1:1/cdrgw?connect_timeout=1",
		"postgres://gw@127.0.0.1:1/cdrgw?password=hunter2secret&connect_timeout=1",
		"postgres://gw:hunter2secret@127.0.0.1:1/cdrgw?sslmode=bogus",
	} {
		_, err := storeurl.Open(ctx, u)
		if err == nil {
			t.Fatalf("Open(%q) succeeded", u)
		}
		if strings.Contains(err.Error(), "hunter2secret") {
			t.Fatalf("error quotes the password: %v", err)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"sqlite://cdrgw.db", "sqlite:///a/b", "postgres://u:p@h/db", "x", "sqlite://", "postgres://u:p%zz@h", "mysql://a:b@c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		kind, dsn, err := storeurl.Parse(raw)
		if err != nil {
			if kind != "" || dsn != "" {
				t.Fatalf("error with results %q %q", kind, dsn)
			}
			return
		}
		if kind != storeurl.SQLite && kind != storeurl.Postgres {
			t.Fatalf("kind %q", kind)
		}
		if dsn == "" {
			t.Fatal("empty dsn")
		}
		_ = storeurl.Redact(raw)
	})
}
