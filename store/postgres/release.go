package postgres

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/cdrgw/cdrgw/store"
)

// Release implements store.Store.
func (s *Store) Release(ctx context.Context, owner string, ids []string, next time.Time) error {
	if owner == "" {
		return errors.New("postgres: release: owner: is required")
	}
	if len(ids) == 0 {
		return nil
	}
	if _, err := s.pool.Exec(ctx, `UPDATE deliveries SET lease_owner = NULL, lease_until = NULL, next_attempt_at = $1, updated_at = now()
		WHERE id = ANY($2::text[]) AND lease_owner = $3 AND status = 'pending'`, next, ids, owner); err != nil {
		return fmt.Errorf("postgres: release: %w", err)
	}
	return nil
}

// ReleaseOwner implements store.Store. It reads only pending rows (through
// a partial index on status = 'pending'): no index on lease_owner, which
// every claim changes.
func (s *Store) ReleaseOwner(ctx context.Context, owner string, next time.Time) error {
	if owner == "" {
		return errors.New("postgres: release owner: owner: is required")
	}
	if _, err := s.pool.Exec(ctx, `UPDATE deliveries SET lease_owner = NULL, lease_until = NULL, next_attempt_at = $1, updated_at = now()
		WHERE status = 'pending' AND lease_owner = $2`, next, owner); err != nil {
		return fmt.Errorf("postgres: release owner %q: %w", owner, err)
	}
	return nil
}

// decodeJobs decodes each job's event from its stored body, spreading large
// batches over a few goroutines: decoding is most of a claim's CPU time.
func decodeJobs(jobs []store.Job, bodies [][]byte) error {
	const per = 16 // events per goroutine, at least
	n := min(runtime.GOMAXPROCS(0), (len(jobs)+per-1)/per)
	if n <= 1 {
		return decodeRange(jobs, bodies, 0, len(jobs))
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for g := range n {
		lo, hi := g*len(jobs)/n, (g+1)*len(jobs)/n
		wg.Go(func() { errs[g] = decodeRange(jobs, bodies, lo, hi) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// decodeRange decodes the events of jobs[lo:hi]. It calls UnmarshalJSON
// itself: json.Unmarshal would first scan the whole body once more to
// validate it, which UnmarshalJSON does anyway (a quarter of the decoding
// time).
func decodeRange(jobs []store.Job, bodies [][]byte, lo, hi int) error {
	for i := lo; i < hi; i++ {
		if err := jobs[i].Event.UnmarshalJSON(bodies[i]); err != nil {
			return fmt.Errorf("delivery %q: decode stored event: %w", jobs[i].Delivery.ID, err)
		}
	}
	return nil
}

// ConcurrentClaims tells the delivery engine that two claims of one webhook
// may run at once: SKIP LOCKED keeps them from taking the same rows, and
// while one waits for the server the other's rows are being sent.
func (s *Store) ConcurrentClaims() int { return 2 }
