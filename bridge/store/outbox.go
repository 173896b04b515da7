package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
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
	n.NextAttempt, n.CreatedAt, n.DeliveredAt = next.Time, created.Time, delivered.Ptr()
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
	stmt, args, err := s.enqueueStmt(n)
	if err != nil {
		return err
	}
	_, err = q.ExecContext(ctx, stmt, args...)
	return dbError(err)
}

// enqueueStmt is the statement that queues n, with its arguments.
func (s *Store) enqueueStmt(n *bridge.Notification) (string, []any, error) {
	if n.EventID == "" || len(n.EventID) > 191 {
		return "", nil, bridge.Errorf(bridge.EINVALID, "event id must have 1 to 191 characters")
	}
	now := s.nowUTC()
	if n.NextAttempt.IsZero() {
		n.NextAttempt = now
	}
	n.NextAttempt, n.CreatedAt = stamp(n.NextAttempt), now
	if n.Payload == nil {
		n.Payload = []byte("{}")
	}
	return s.enqueueHead() + " " + enqueueRow + " " + enqueueTail,
		[]any{n.EventID, n.OrderID, string(n.Payload), n.Attempts, dt(n.NextAttempt), clip(n.LastError, 1024), dt(n.CreatedAt)}, nil
}

// The parts of enqueueStmt's INSERT: a multi-row INSERT of several
// notifications repeats enqueueRow (UpdatePayments).
const (
	enqueueRow  = "(?, ?, ?, ?, ?, ?, ?)"
	enqueueTail = "ON DUPLICATE KEY UPDATE id = id"
)

func (s *Store) enqueueHead() string {
	return "INSERT INTO " + s.outbox + " (event_id, order_id, payload, attempts, next_attempt_at, last_error, created_at) VALUES"
}

// prefixed qualifies each column of cols with alias.
func prefixed(alias, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
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

// dueNotifications and dueNotificationsOrder select the notifications a
// claim takes. Both follow the claim index (delivered_at, next_attempt_at,
// and the primary key InnoDB appends): the equality on delivered_at IS NULL
// and the range on next_attempt_at read the undelivered, due entries only,
// already in the claim's order, so the delivered history, however long, is
// never read (TestClaimNotificationsSkipsHistory).
const (
	dueNotifications      = "delivered_at IS NULL AND next_attempt_at <= ?"
	dueNotificationsOrder = "next_attempt_at, id"
)

// ClaimNotifications leases up to limit undelivered notifications that are
// due and that nobody holds, oldest due first. WordPress hears of an order's
// events in the order they were queued: a notification whose order has an
// earlier undelivered one that this claim did not get (held by another
// replica, or waiting for its retry) is not handed out; it is released to
// be tried when the earlier one is.
func (s *Store) ClaimNotifications(ctx context.Context, owner string, limit int, lease time.Duration) ([]*bridge.Notification, error) {
	now := s.nowUTC()
	ids, id, err := s.claimBy(ctx, s.outbox, dueNotifications, []any{dt(now)}, dueNotificationsOrder, limit, owner, lease, s.writeSoon)
	if err != nil || len(ids) == 0 {
		return nil, wrapErr("claim notifications", err)
	}
	// With each one, the order's first undelivered notification (by the
	// order_id index: the order's backlog only).
	in, args := inIDs(ids)
	type claimed struct {
		n         *bridge.Notification
		firstID   int64
		firstNext dbTime
	}
	first := func(col string) string {
		return "(SELECT " + col + " FROM " + s.outbox + " e WHERE e.order_id = o.order_id AND e.delivered_at IS NULL ORDER BY e.id LIMIT 1)"
	}
	rows, err := queryAll(ctx, s.db, func(r scanner) (claimed, error) {
		var c claimed
		var (
			payload                  string
			next, delivered, created dbTime
		)
		n := &bridge.Notification{}
		err := r.Scan(&n.ID, &n.EventID, &n.OrderID, &payload, &n.Attempts, &next, &delivered, &n.LastError, &created, &c.firstID, &c.firstNext)
		n.Payload = []byte(payload)
		n.NextAttempt, n.CreatedAt, n.DeliveredAt = next.Time, created.Time, delivered.Ptr()
		c.n = n
		return c, err
	}, "SELECT "+prefixed("o", notificationCols)+", "+first("e.id")+", "+first("e.next_attempt_at")+" FROM "+s.outbox+" o"+
		" WHERE o."+in+" AND o.lease_owner = ? AND o.delivered_at IS NULL ORDER BY o.id", append(args, id)...)
	if err != nil {
		return nil, fmt.Errorf("claim notifications: %w", err)
	}
	mine := map[int64]bool{}
	for _, c := range rows {
		mine[c.n.ID] = true
	}
	var out []*bridge.Notification
	var held []int64
	wait := map[int64]time.Time{} // notification -> when its order's first is due
	for _, c := range rows {
		if c.firstID != c.n.ID && !mine[c.firstID] {
			held = append(held, c.n.ID)
			wait[c.n.ID] = c.firstNext.Time
			continue
		}
		c.n.Lease = id
		out = append(out, c.n)
	}
	for _, nid := range held {
		next := wait[nid]
		if next.Before(now.Add(time.Second)) {
			next = now.Add(time.Second)
		}
		if _, err := s.db.ExecContext(ctx, "UPDATE "+s.outbox+" SET next_attempt_at = ?, lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ?",
			dt(next), nid, id); err != nil {
			return nil, fmt.Errorf("claim notifications: %w", dbError(err))
		}
	}
	return out, nil
}

// FinishNotification records a delivery attempt of notification id under
// lease and frees the lease: delivered stamps delivered_at, otherwise the
// next attempt is at nextAttempt. A failure is recorded only while lease is
// still held (else bridge.ErrLeaseLost: another replica has it now); a
// delivery is a fact and is recorded in any case, without touching
// another's lease. An empty lease records without the check.
func (s *Store) FinishNotification(ctx context.Context, id int64, lease string, delivered bool, lastError string, nextAttempt time.Time) error {
	held, args := "", []any{}
	if lease != "" {
		held, args = " AND lease_owner = ?", []any{lease}
	}
	var (
		res sql.Result
		err error
	)
	if delivered {
		res, err = s.db.ExecContext(ctx, "UPDATE "+s.outbox+
			" SET delivered_at = ?, attempts = attempts + 1, last_error = ?, lease_owner = NULL, lease_until = NULL WHERE id = ?"+held,
			append([]any{dt(s.nowUTC()), clip(lastError, 1024), id}, args...)...)
	} else {
		res, err = s.db.ExecContext(ctx, "UPDATE "+s.outbox+
			" SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?, lease_owner = NULL, lease_until = NULL WHERE id = ?"+held,
			append([]any{dt(nextAttempt), clip(lastError, 1024), id}, args...)...)
	}
	if err != nil {
		return fmt.Errorf("finish notification %d: %w", id, dbError(err))
	}
	// attempts always changes, so no affected row means no such
	// notification, or one whose lease is gone.
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		if lease == "" {
			return fmt.Errorf("finish notification %d: %w", id, errNotificationNotFound)
		}
		if delivered {
			if _, err := s.db.ExecContext(ctx, "UPDATE "+s.outbox+" SET delivered_at = ?, last_error = ? WHERE id = ? AND delivered_at IS NULL",
				dt(s.nowUTC()), clip(lastError, 1024), id); err != nil {
				return fmt.Errorf("finish notification %d: %w", id, dbError(err))
			}
		}
		if _, err := s.Notification(ctx, id); err != nil {
			return fmt.Errorf("finish notification %d: %w", id, err)
		}
		return fmt.Errorf("finish notification %d: %w", id, bridge.ErrLeaseLost)
	}
	return nil
}

// FinishDelivered records many notifications delivered at once, as
// FinishNotification does for each (their lease released; one no longer
// held under lease still gets its delivery recorded). It rides an apply
// transaction waiting at its commit point when there is one (ride.go).
func (s *Store) FinishDelivered(ctx context.Context, lease string, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	var ferr error // the record's own outcome: a lease lost is recorded all the same
	err := s.writeSoon(ctx, func(ctx context.Context, q execer) error {
		if ferr = s.finishDelivered(ctx, q, lease, ids); errors.Is(ferr, bridge.ErrLeaseLost) {
			return nil
		}
		return ferr
	})
	if err != nil {
		return err
	}
	return ferr
}

func (s *Store) finishDelivered(ctx context.Context, q execer, lease string, ids []int64) error {
	now := dt(s.nowUTC())
	in, args := inIDs(ids)
	res, err := q.ExecContext(ctx, "UPDATE "+s.outbox+" FORCE INDEX (`PRIMARY`) SET delivered_at = ?, attempts = attempts + 1, last_error = '', lease_owner = NULL, lease_until = NULL WHERE "+in+" AND lease_owner = ?",
		append(append([]any{now}, args...), lease)...)
	if err != nil {
		return fmt.Errorf("finish delivered notifications: %w", dbError(err))
	}
	if n, err := res.RowsAffected(); err == nil && int(n) < len(ids) {
		if _, err := q.ExecContext(ctx, "UPDATE "+s.outbox+" FORCE INDEX (`PRIMARY`) SET delivered_at = ? WHERE "+in+" AND delivered_at IS NULL", append([]any{now}, args...)...); err != nil {
			return fmt.Errorf("finish delivered notifications: %w", dbError(err))
		}
		return fmt.Errorf("finish delivered notifications: %d of %d: %w", len(ids)-int(n), len(ids), bridge.ErrLeaseLost)
	}
	return nil
}

// RenewNotifications extends lease on the notifications ids it still holds
// to d from now (the database's clock) and returns those; the others have
// been taken by another replica since the lease ran out. A lease that ran
// out without anyone taking the notification is still held: a claim
// replaces lease_owner under the row's lock.
func (s *Store) RenewNotifications(ctx context.Context, lease string, ids []int64, d time.Duration) ([]int64, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	in, args := inIDs(ids)
	res, err := s.db.ExecContext(ctx, "UPDATE "+s.outbox+" FORCE INDEX (`PRIMARY`) SET lease_until = "+leaseEnd(d)+" WHERE "+in+" AND lease_owner = ? AND delivered_at IS NULL",
		append(args, lease)...)
	if err != nil {
		return nil, fmt.Errorf("renew notification leases: %w", dbError(err))
	}
	if n, err := res.RowsAffected(); err == nil && int(n) == len(ids) {
		return ids, nil
	}
	held, err := queryAll(ctx, s.db, func(r scanner) (int64, error) {
		var id int64
		return id, r.Scan(&id)
	}, "SELECT id FROM "+s.outbox+" WHERE "+in+" AND lease_owner = ? AND delivered_at IS NULL ORDER BY id", append(args, lease)...)
	if err != nil {
		return nil, fmt.Errorf("renew notification leases: %w", err)
	}
	return held, nil
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
