package sqlite

import (
	"context"
	"errors"
	"fmt"
	"time"
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
