package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cdrgw/cdrgw/store/postgres/pgtest"
	"github.com/cdrgw/cdrgw/store/storetest"
)

// BenchmarkConsole measures the console's pages on 100,000 deliveries, and
// a deep page read by OFFSET for comparison.
func BenchmarkConsole(b *testing.B) {
	dsn := pgtest.URL(b)
	s := openDSN(b, dsn)
	conn, err := pgx.Connect(b.Context(), dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(context.Background())
	now := fillConsole(b, conn)
	storetest.BenchConsole(b, s, now, func(ctx context.Context, offset, limit int) (int, error) {
		rows, err := conn.Query(ctx, `SELECT seq, id, webhook, event_id, event_type, key, status, attempts, next_attempt_at, created_at, updated_at, last_error
			FROM deliveries ORDER BY seq DESC LIMIT $1 OFFSET $2`, limit, offset)
		if err != nil {
			return 0, err
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			n++
		}
		return n, rows.Err()
	})
}
