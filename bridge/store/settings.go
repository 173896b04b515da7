package store

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"time"

	"github.com/wcbridge/wcbridge/bridge"
)

// Settings returns the settings pushed from WordPress and when they were
// last changed (zero when none were ever pushed).
func (s *Store) Settings(ctx context.Context) (map[string]string, time.Time, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT name, value, updated_at FROM "+s.settings)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("read settings: %w", dbError(err))
	}
	defer rows.Close()
	out := map[string]string{}
	var last time.Time
	for rows.Next() {
		var (
			name, value string
			at          dbTime
		)
		if err := rows.Scan(&name, &value, &at); err != nil {
			return nil, time.Time{}, fmt.Errorf("read settings: %w", err)
		}
		out[name] = value
		if at.After(last) {
			last = at.Time
		}
	}
	if err := rows.Err(); err != nil {
		return nil, time.Time{}, fmt.Errorf("read settings: %w", dbError(err))
	}
	return out, last, nil
}

// PutSettings replaces the given settings in one transaction; settings not
// named are kept.
func (s *Store) PutSettings(ctx context.Context, values map[string]string) error {
	names := make([]string, 0, len(values))
	for name := range values {
		if name == "" || len(name) > 191 {
			return bridge.Errorf(bridge.EINVALID, "setting name must have 1 to 191 characters")
		}
		names = append(names, name)
	}
	// One order of row locks for every writer, so two replicas pushing at
	// once wait for each other instead of deadlocking.
	sort.Strings(names)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("put settings: %w", dbError(err))
	}
	defer rollback(tx)
	now := s.nowUTC()
	for _, name := range names {
		if err := s.putSetting(ctx, tx, name, values[name], now); err != nil {
			return fmt.Errorf("put setting %s: %w", name, dbError(err))
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("put settings: %w", dbError(err))
	}
	return nil
}

func (s *Store) putSetting(ctx context.Context, tx *sql.Tx, name, value string, now time.Time) error {
	_, err := tx.ExecContext(ctx, "INSERT INTO "+s.settings+` (name, value, updated_at) VALUES (?, ?, ?)
ON DUPLICATE KEY UPDATE value = VALUES(value), updated_at = VALUES(updated_at)`, name, value, dt(now))
	return err
}
