package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/wcbridge/wcbridge/bridge"
)

var errNotificationNotFound = &bridge.Error{Code: bridge.ENOTFOUND, Message: "notification not found"}

const notificationCols = `id, event_id, order_id, payload, attempts, next_attempt_at, delivered_at, last_error, created_at`

func scanNotification(r scanner) (*bridge.Notification, error) {
	var (
		n                        bridge.Notification
		payload                  string
		next, delivered, created dbTime
	)
	err := r.Scan(&n.ID, &n.EventID, &n.OrderID, &payload, &n.Attempts, &next, &delivered, &n.LastError, &created)
	if err != nil {
		return nil, err
	}
	n.Payload = []byte(payload)
	n.NextAttempt, n.CreatedAt, n.DeliveredAt = next.Time, created.Time, delivered.ptr()
	return &n, nil
}

// Enqueue queues n unless its EventID is already queued; either way n.ID is
// set to the queued row. A zero NextAttempt means now.
func (s *Store) Enqueue(ctx context.Context, n *bridge.Notification) error {
	if err := s.enqueue(ctx, s.db, n); err != nil {
		return fmt.Errorf("enqueue %s: %w", n.EventID, err)
	}
	if err := s.db.QueryRowContext(ctx, "SELECT id FROM "+s.outbox+" WHERE event_id = ?", n.EventID).Scan(&n.ID); err != nil {
		return fmt.Errorf("enqueue %s: %w", n.EventID, dbError(err))
	}
	return nil
}

// enqueue inserts n on q (the database or a payment's transaction); a
// duplicate event id is a no-op. ON DUPLICATE KEY is used rather than INSERT
// IGNORE, which would also swallow truncation and other errors.
func (s *Store) enqueue(ctx context.Context, q execer, n *bridge.Notification) error {
	if n.EventID == "" || len(n.EventID) > 191 {
		return bridge.Errorf(bridge.EINVALID, "event id must have 1 to 191 characters")
	}
	now := s.nowUTC()
	if n.NextAttempt.IsZero() {
		n.NextAttempt = now
	}
	n.NextAttempt, n.CreatedAt = stamp(n.NextAttempt), now
	if n.Payload == nil {
		n.Payload = []byte("{}")
	}
	_, err := q.ExecContext(ctx, "INSERT INTO "+s.outbox+` (event_id, order_id, payload, attempts, next_attempt_at, last_error, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE id = id`,
		n.EventID, n.OrderID, string(n.Payload), n.Attempts, dt(n.NextAttempt), clip(n.LastError, 1024), dt(n.CreatedAt))
	return dbError(err)
}

// Notification reads one queued notification.
func (s *Store) Notification(ctx context.Context, id int64) (*bridge.Notification, error) {
	n, err := scanNotification(s.db.QueryRowContext(ctx, "SELECT "+notificationCols+" FROM "+s.outbox+" WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("notification %d: %w", id, errNotificationNotFound)
	} else if err != nil {
		return nil, fmt.Errorf("notification %d: %w", id, dbError(err))
	}
	return n, nil
}

// ClaimNotifications leases up to limit undelivered notifications that are
// due, oldest first, so WordPress hears of an order's events in order.
func (s *Store) ClaimNotifications(ctx context.Context, owner string, limit int, lease time.Duration) ([]*bridge.Notification, error) {
	now := dt(s.nowUTC())
	until, err := s.claim(ctx, s.outbox, "delivered_at IS NULL AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until <= ?)",
		[]any{now, now}, "id", limit, owner, lease)
	if err != nil {
		return nil, fmt.Errorf("claim notifications: %w", err)
	}
	ns, err := queryAll(ctx, s.db, scanNotification, "SELECT "+notificationCols+" FROM "+s.outbox+
		" WHERE lease_owner = ? AND lease_until = ? AND delivered_at IS NULL ORDER BY id", owner, dt(until))
	if err != nil {
		return nil, fmt.Errorf("claim notifications: %w", err)
	}
	return ns, nil
}

// FinishNotification records a delivery attempt and frees the lease:
// delivered stamps delivered_at, otherwise the next attempt is at nextAttempt.
func (s *Store) FinishNotification(ctx context.Context, id int64, delivered bool, lastError string, nextAttempt time.Time) error {
	var (
		res sql.Result
		err error
	)
	if delivered {
		res, err = s.db.ExecContext(ctx, "UPDATE "+s.outbox+
			" SET delivered_at = ?, attempts = attempts + 1, last_error = ?, lease_owner = NULL, lease_until = NULL WHERE id = ?",
			dt(s.nowUTC()), clip(lastError, 1024), id)
	} else {
		res, err = s.db.ExecContext(ctx, "UPDATE "+s.outbox+
			" SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?, lease_owner = NULL, lease_until = NULL WHERE id = ?",
			dt(nextAttempt), clip(lastError, 1024), id)
	}
	if err != nil {
		return fmt.Errorf("finish notification %d: %w", id, dbError(err))
	}
	// attempts always changes, so no affected row means no such notification.
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("finish notification %d: %w", id, errNotificationNotFound)
	}
	return nil
}

// RetryNow makes every undelivered notification due now (WordPress answers
// again after an outage) and returns how many were waiting.
func (s *Store) RetryNow(ctx context.Context) (int, error) {
	now := dt(s.nowUTC())
	res, err := s.db.ExecContext(ctx, "UPDATE "+s.outbox+" SET next_attempt_at = ? WHERE delivered_at IS NULL AND next_attempt_at > ?", now, now)
	if err != nil {
		return 0, fmt.Errorf("retry notifications now: %w", dbError(err))
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// Backlog counts undelivered notifications.
func (s *Store) Backlog(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+s.outbox+" WHERE delivered_at IS NULL").Scan(&n); err != nil {
		return 0, fmt.Errorf("outbox backlog: %w", dbError(err))
	}
	return n, nil
}
