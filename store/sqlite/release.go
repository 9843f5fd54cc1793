package sqlite

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
		return errors.New("sqlite: release: owner: is required")
	}
	if len(ids) == 0 {
		return nil
	}
	list, err := jsonArray(ids)
	if err != nil {
		return fmt.Errorf("sqlite: release: %w", err)
	}
	if _, err := s.w.ExecContext(ctx, `UPDATE deliveries SET lease_owner = NULL, lease_until = NULL, next_attempt_at = ?1, updated_at = ?2
		WHERE id IN (SELECT value FROM json_each(?3)) AND lease_owner = ?4 AND status = 'pending'`,
		us(next), us(s.now()), list, owner); err != nil {
		return fmt.Errorf("sqlite: release: %w", err)
	}
	return nil
}

// ReleaseOwner implements store.Store. It reads only pending rows (through
// a partial index on status = 'pending'): no index on lease_owner, which
// every claim changes.
func (s *Store) ReleaseOwner(ctx context.Context, owner string, next time.Time) error {
	if owner == "" {
		return errors.New("sqlite: release owner: owner: is required")
	}
	if _, err := s.w.ExecContext(ctx, `UPDATE deliveries SET lease_owner = NULL, lease_until = NULL, next_attempt_at = ?1, updated_at = ?2
		WHERE status = 'pending' AND lease_owner = ?3`, us(next), us(s.now()), owner); err != nil {
		return fmt.Errorf("sqlite: release owner %q: %w", owner, err)
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
