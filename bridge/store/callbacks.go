package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/wcbridge/wcbridge/bridge"
)

// MaxUnverifiedBody is how much of an unverified callback's body is kept: it
// is shown on the admin page and never applied, and anyone can send one, so
// it must not fill the database.
const MaxUnverifiedBody = 4 << 10

// errCallbackNotFound is returned for an unknown callback id.
var errCallbackNotFound = &bridge.Error{Code: bridge.ENOTFOUND, Message: "callback not found"}

const callbackCols = `id, gateway, received_at, content_type, body, body_hash, verified,
	reason, payment_key, applied_at, attempts`

func scanCallback(r scanner) (*bridge.Callback, error) {
	var (
		c                 bridge.Callback
		received, applied dbTime
	)
	err := r.Scan(&c.ID, &c.Gateway, &received, &c.ContentType, &c.Body, &c.BodyHash, &c.Verified,
		&c.Reason, &c.PaymentKey, &applied, &c.Attempts)
	if err != nil {
		return nil, err
	}
	c.ReceivedAt, c.AppliedAt = received.Time, applied.Ptr()
	return &c, nil
}

// BodyHash is the hex sha256 of a callback body, the key that makes an
// identical redelivery count once.
func BodyHash(body []byte) string {
	h := sha256.Sum256(body)
	return hex.EncodeToString(h[:])
}

// RecordCallback stores c. An identical body already recorded for the
// gateway returns the existing record and duplicate=true; but a verified
// callback whose body was first recorded unverified (e.g. rejected for clock
// skew, then redelivered) upgrades that record and counts as new.
//
// BodyHash is computed when empty, always over the whole body; an unverified
// body is stored truncated to MaxUnverifiedBody.
func (s *Store) RecordCallback(ctx context.Context, c *bridge.Callback) (*bridge.Callback, bool, error) {
	if c.Gateway == "" || len(c.Gateway) > 32 {
		return nil, false, bridge.Errorf(bridge.EINVALID, "gateway name must have 1 to 32 characters")
	}
	if c.BodyHash == "" {
		c.BodyHash = BodyHash(c.Body)
	}
	if len(c.BodyHash) != 64 {
		return nil, false, bridge.Errorf(bridge.EINVALID, "body hash must be 64 hex characters")
	}
	if c.ReceivedAt.IsZero() {
		c.ReceivedAt = s.now()
	}
	c.ReceivedAt = stamp(c.ReceivedAt)
	c.ContentType, c.Reason, c.PaymentKey = clip(c.ContentType, 255), clip(c.Reason, 255), clip(c.PaymentKey, 191)
	if !c.Verified && len(c.Body) > MaxUnverifiedBody {
		c.Body = c.Body[:MaxUnverifiedBody]
	}
	if c.Body == nil {
		c.Body = []byte{}
	}
	next := c.ReceivedAt
	if c.NextAttemptAt.After(next) {
		next = stamp(c.NextAttemptAt)
	}
	// A callback processed from memory by the replica that received it is
	// recorded leased to it, so that no sweep takes it up meanwhile.
	lease, until := sql.NullString{}, "NULL"
	if c.Verified && c.Lease != "" && c.LeaseFor > 0 {
		if err := checkLease(c.Lease); err != nil {
			return nil, false, fmt.Errorf("record callback: %w", err)
		}
		lease, until = sql.NullString{String: c.Lease, Valid: true}, leaseEnd(c.LeaseFor)
	} else {
		c.Lease = ""
	}
	res, err := s.db.ExecContext(ctx, "INSERT INTO "+s.callbacks+` (gateway, received_at, content_type, body, body_hash,
	verified, reason, payment_key, attempts, next_attempt_at, lease_owner, lease_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, `+until+`)`,
		c.Gateway, dt(c.ReceivedAt), c.ContentType, c.Body, c.BodyHash,
		c.Verified, c.Reason, c.PaymentKey, c.Attempts, dt(next), lease)
	if err == nil {
		id, err := res.LastInsertId()
		if err != nil {
			return nil, false, fmt.Errorf("record callback: %w", err)
		}
		c.ID = id
		return c, false, nil
	}
	if !isDup(err) {
		return nil, false, fmt.Errorf("record callback: %w", dbError(err))
	}
	old, err := s.callbackWhere(ctx, "gateway = ? AND body_hash = ?", c.Gateway, c.BodyHash)
	if err != nil {
		return nil, false, fmt.Errorf("record callback: %w", err)
	}
	if old.Verified || !c.Verified {
		return old, true, nil
	}
	// The condition on verified makes two replicas upgrading at once count
	// the callback once: the second one's UPDATE matches nothing.
	res, err = s.db.ExecContext(ctx, "UPDATE "+s.callbacks+` SET received_at = ?, content_type = ?, body = ?,
	verified = 1, reason = ?, payment_key = ?, attempts = 0, next_attempt_at = ?, applied_at = NULL, lease_owner = ?, lease_until = `+until+`
WHERE id = ? AND verified = 0`,
		dt(c.ReceivedAt), c.ContentType, c.Body, c.Reason, c.PaymentKey, dt(next), lease, old.ID)
	if err != nil {
		return nil, false, fmt.Errorf("record callback: %w", dbError(err))
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		old, err = s.callbackWhere(ctx, "id = ?", old.ID)
		if err != nil {
			return nil, false, fmt.Errorf("record callback: %w", err)
		}
		return old, true, nil
	}
	c.ID = old.ID
	return c, false, nil
}

func (s *Store) callbackWhere(ctx context.Context, where string, args ...any) (*bridge.Callback, error) {
	c, err := scanCallback(s.db.QueryRowContext(ctx, "SELECT "+callbackCols+" FROM "+s.callbacks+" WHERE "+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errCallbackNotFound
	}
	return c, dbError(err)
}

// Callback reads one recorded callback.
func (s *Store) Callback(ctx context.Context, id int64) (*bridge.Callback, error) {
	c, err := s.callbackWhere(ctx, "id = ?", id)
	if err != nil {
		return nil, fmt.Errorf("callback %d: %w", id, err)
	}
	return c, nil
}

// ClaimCallbacks leases up to limit verified, unapplied callbacks whose next
// attempt is due and that nobody holds, oldest first. Unverified callbacks
// are never handed out.
func (s *Store) ClaimCallbacks(ctx context.Context, owner string, limit int, lease time.Duration) ([]*bridge.Callback, error) {
	ids, id, err := s.claim(ctx, s.callbacks, "verified = 1 AND applied_at IS NULL AND next_attempt_at <= ?",
		[]any{dt(s.nowUTC())}, "next_attempt_at, id", limit, owner, lease)
	if err != nil || len(ids) == 0 {
		return nil, wrapErr("claim callbacks", err)
	}
	in, args := inIDs(ids)
	cs, err := queryAll(ctx, s.db, scanCallback, "SELECT "+callbackCols+" FROM "+s.callbacks+
		" WHERE "+in+" AND lease_owner = ? AND verified = 1 AND applied_at IS NULL ORDER BY next_attempt_at, id", append(args, id)...)
	if err != nil {
		return nil, fmt.Errorf("claim callbacks: %w", err)
	}
	for _, c := range cs {
		c.Lease = id
	}
	return cs, nil
}

// FinishCallback records the outcome of applying callback id under lease
// and frees the lease: applied stamps applied_at; otherwise the attempt is
// counted and the next one scheduled at retryAt. A retry is recorded only
// while lease is still held (else bridge.ErrLeaseLost: another replica has
// the callback now and records its own outcome); that it was applied is a
// fact and is recorded in any case, without touching another's lease. An
// empty lease records without the check.
func (s *Store) FinishCallback(ctx context.Context, id int64, lease, reason string, applied bool, retryAt time.Time) error {
	held, args := "", []any{}
	if lease != "" {
		held, args = " AND lease_owner = ?", []any{lease}
	}
	var (
		res sql.Result
		err error
	)
	if applied {
		res, err = s.db.ExecContext(ctx, "UPDATE "+s.callbacks+
			" SET applied_at = ?, reason = ?, attempts = attempts + 1, lease_owner = NULL, lease_until = NULL WHERE id = ?"+held,
			append([]any{dt(s.nowUTC()), clip(reason, 255), id}, args...)...)
	} else {
		res, err = s.db.ExecContext(ctx, "UPDATE "+s.callbacks+
			" SET attempts = attempts + 1, next_attempt_at = ?, reason = ?, lease_owner = NULL, lease_until = NULL WHERE id = ?"+held,
			append([]any{dt(retryAt), clip(reason, 255), id}, args...)...)
	}
	if err != nil {
		return fmt.Errorf("finish callback %d: %w", id, dbError(err))
	}
	// attempts always changes, so no affected row means no such callback,
	// or one whose lease is gone.
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		if lease == "" {
			return fmt.Errorf("finish callback %d: %w", id, errCallbackNotFound)
		}
		if applied {
			// Whoever holds it now will find it applied; nothing else changes.
			if _, err := s.db.ExecContext(ctx, "UPDATE "+s.callbacks+" SET applied_at = ?, reason = ? WHERE id = ? AND applied_at IS NULL",
				dt(s.nowUTC()), clip(reason, 255), id); err != nil {
				return fmt.Errorf("finish callback %d: %w", id, dbError(err))
			}
		}
		if _, err := s.callbackWhere(ctx, "id = ?", id); err != nil {
			return fmt.Errorf("finish callback %d: %w", id, err)
		}
		return fmt.Errorf("finish callback %d: %w", id, bridge.ErrLeaseLost)
	}
	return nil
}

// LastCallbacks returns, per gateway, when the last verified callback
// arrived. Rejected callbacks are not stored (bridge.Rejections).
func (s *Store) LastCallbacks(ctx context.Context) (map[string]bridge.CallbackSummary, error) {
	out := map[string]bridge.CallbackSummary{}
	rows, err := s.db.QueryContext(ctx, "SELECT gateway, MAX(received_at) FROM "+s.callbacks+" WHERE verified = 1 GROUP BY gateway")
	if err != nil {
		return nil, fmt.Errorf("last callbacks: %w", dbError(err))
	}
	defer rows.Close()
	for rows.Next() {
		var (
			gw string
			at dbTime
		)
		if err := rows.Scan(&gw, &at); err != nil {
			return nil, fmt.Errorf("last callbacks: %w", err)
		}
		sum := out[gw]
		sum.LastAccepted = at.Ptr()
		out[gw] = sum
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("last callbacks: %w", dbError(err))
	}
	return out, nil
}
