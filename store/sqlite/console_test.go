package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/store/storetest"
)

// BenchmarkConsole measures the console's pages on 100,000 deliveries, and
// a deep page read by OFFSET for comparison.
func BenchmarkConsole(b *testing.B) {
	path := filepath.Join(b.TempDir(), "cdrgw.db")
	s := openAt(b, path)
	now := time.Now().Truncate(time.Second)
	fillConsole(b, path, now, storetest.ConsoleRows)
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=query_only(1)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	storetest.BenchConsole(b, s, now, func(ctx context.Context, offset, limit int) (int, error) {
		return countRows(db.QueryContext(ctx, `SELECT seq, id, webhook, event_id, event_type, key, status, attempts, next_attempt_at, created_at, updated_at, last_error
			FROM deliveries ORDER BY seq DESC LIMIT ? OFFSET ?`, limit, offset))
	})
}

func countRows(rows *sql.Rows, err error) (int, error) {
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
	}
	return n, rows.Err()
}
