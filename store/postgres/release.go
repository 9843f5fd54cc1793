package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"
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
