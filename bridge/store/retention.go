package store

import (
	"context"
	"fmt"
	"time"
)

// Purged counts what one retention pass deleted or released.
type Purged struct {
	Callbacks     int // processed callbacks older than the cut-off, and refused ones older versions stored
	Notifications int // delivered or closed notifications older than the cut-off
	Leases        int // expired leases left on finished payments
	RequestIDs    int // ids of signed requests whose signature has expired
}

// Total is everything the pass did.
func (p Purged) Total() int { return p.Callbacks + p.Notifications + p.Leases + p.RequestIDs }

// Purge deletes, in statements of at most batch rows, processed callbacks
// received before callbacksBefore, refused callbacks that older versions
// stored, notifications delivered (or closed) before notificationsBefore,
// and the ids of signed requests whose signature has expired, and releases
// expired leases left on payments the reconciler has finished with. It stops after maxBatches statements per
// kind, so one pass stays short; the next pass goes on. Unprocessed
// callbacks and undelivered notifications are never deleted, and payments
// (the shop's record of money) never are.
func (s *Store) Purge(ctx context.Context, callbacksBefore, notificationsBefore time.Time, batch, maxBatches int) (Purged, error) {
	var p Purged
	var err error
	now := dt(s.nowUTC())
	steps := []struct {
		n     *int
		query string
		args  []any
	}{
		{&p.Callbacks, "DELETE FROM " + s.callbacks + " WHERE verified = 1 AND applied_at IS NOT NULL AND applied_at < ? ORDER BY applied_at LIMIT ?", []any{dt(callbacksBefore)}},
		{&p.Callbacks, "DELETE FROM " + s.callbacks + " WHERE verified = 0 ORDER BY id LIMIT ?", nil},
		{&p.Notifications, "DELETE FROM " + s.outbox + " WHERE delivered_at IS NOT NULL AND delivered_at < ? ORDER BY delivered_at LIMIT ?", []any{dt(notificationsBefore)}},
		{&p.Leases, "UPDATE " + s.payments + " SET lease_owner = NULL, lease_until = NULL WHERE due = 0 AND lease_until IS NOT NULL AND lease_until < ? LIMIT ?", []any{now}},
		{&p.RequestIDs, "DELETE FROM " + s.requests + " WHERE expires_at < ? ORDER BY expires_at LIMIT ?", []any{now}},
	}
	for _, st := range steps {
		for range maxBatches {
			var n int
			if n, err = s.execCount(ctx, st.query, append(append([]any{}, st.args...), batch)...); err != nil {
				return p, fmt.Errorf("purge: %w", err)
			}
			*st.n += n
			if n < batch {
				break
			}
		}
	}
	return p, nil
}

func (s *Store) execCount(ctx context.Context, query string, args ...any) (int, error) {
	res, err := s.db.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, dbError(err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}
