// Package storeurl opens the store named by the config's store URL. It lives
// apart from package store so that store does not import its backends.
package storeurl

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/cdrgw/cdrgw/store"
	"github.com/cdrgw/cdrgw/store/postgres"
	"github.com/cdrgw/cdrgw/store/sqlite"
)

// Kind is a store backend.
type Kind string

// Store backends.
const (
	SQLite   Kind = "sqlite"
	Postgres Kind = "postgres"
)

// Parse splits a store URL into its backend and the DSN the backend opens:
// sqlite://PATH (relative, sqlite:///abs/path, or sqlite://:memory:) gives the
// file path; postgres:// and postgresql:// URLs are passed on whole. Errors
// never quote a password.
func Parse(raw string) (Kind, string, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return "", "", fmt.Errorf("store URL %q: want sqlite://PATH or postgres://...", Redact(raw))
	}
	switch strings.ToLower(scheme) {
	case "sqlite", "sqlite3":
		path := rest
		if i := strings.IndexAny(path, "?#"); i >= 0 {
			return "", "", fmt.Errorf("store URL %q: sqlite URLs take no query or fragment", Redact(raw))
		}
		if path == "" {
			return "", "", fmt.Errorf("store URL %q: path: is required", Redact(raw))
		}
		if p, err := url.PathUnescape(path); err == nil {
			path = p
		}
		return SQLite, path, nil
	case "postgres", "postgresql":
		if _, err := url.Parse(raw); err != nil {
			return "", "", fmt.Errorf("store URL %q: is not a valid URL", Redact(raw))
		}
		return Postgres, raw, nil
	}
	return "", "", fmt.Errorf("store URL %q: unknown scheme %q (want sqlite or postgres)", Redact(raw), scheme)
}

// Open opens and migrates the store named by raw.
func Open(ctx context.Context, raw string) (store.Store, error) {
	kind, dsn, err := Parse(raw)
	if err != nil {
		return nil, err
	}
	switch kind {
	case SQLite:
		s, err := sqlite.Open(ctx, dsn)
		if err != nil {
			return nil, fmt.Errorf("store %q: %w", Redact(raw), err)
		}
		return s, nil
	case Postgres:
		s, err := postgres.Open(ctx, dsn)
		if err != nil {
			return nil, fmt.Errorf("store %q: %w", Redact(raw), scrub(err, raw))
		}
		return s, nil
	}
	return nil, errors.New("unreachable")
}

// Redact returns the URL with any password replaced by "xxxxx".
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		// Unparseable: drop everything between "://" and the last "@".
		if scheme, rest, ok := strings.Cut(raw, "://"); ok {
			if i := strings.LastIndex(rest, "@"); i >= 0 {
				return scheme + "://xxxxx@" + rest[i+1:]
			}
		}
		return raw
	}
	changed := false
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
		changed = true
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
		changed = true
	}
	if !changed {
		return raw
	}
	return u.String()
}

// scrub replaces any password of raw that err's text quotes.
func scrub(err error, raw string) error {
	u, perr := url.Parse(raw)
	if perr != nil {
		return err
	}
	pw, ok := u.User.Password()
	if q := u.Query().Get("password"); q != "" {
		pw, ok = q, true
	}
	if !ok || pw == "" || !strings.Contains(err.Error(), pw) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), pw, "xxxxx"))
}
