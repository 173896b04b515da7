package store

import (
	"context"
	"fmt"
)

// Tables lists the sidecar's own tables that exist in the database, the
// migrations table last.
func (s *Store) Tables(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name IN (?, ?, ?, ?, ?, ?)",
		s.prefix+"wcbridge_payments", s.prefix+"wcbridge_callbacks", s.prefix+"wcbridge_outbox", s.prefix+"wcbridge_settings",
		s.prefix+"wcbridge_requests", s.prefix+"wcbridge_migrations")
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", dbError(err))
	}
	defer rows.Close()
	var out []string
	migrations := false
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("list tables: %w", err)
		}
		if n == s.prefix+"wcbridge_migrations" {
			migrations = true
			continue
		}
		out = append(out, n)
	}
	if migrations {
		out = append(out, s.prefix+"wcbridge_migrations")
	}
	return out, dbError(rows.Err())
}

// Drop drops the sidecar's own tables (never WooCommerce's), the migrations
// table last, so an interrupted run is finished by the next one. It returns
// the tables it dropped.
func (s *Store) Drop(ctx context.Context) ([]string, error) {
	tables, err := s.Tables(ctx)
	if err != nil {
		return nil, err
	}
	var dropped []string
	for _, t := range tables {
		if _, err := s.db.ExecContext(ctx, "DROP TABLE IF EXISTS `"+t+"`"); err != nil {
			return dropped, fmt.Errorf("drop %s: %w", t, dbError(err))
		}
		dropped = append(dropped, t)
	}
	return dropped, nil
}
