package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/mysqlkit"
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
	return s.recordCallback(ctx, s.db, c)
}

func (s *Store) recordCallback(ctx context.Context, q execer, c *bridge.Callback) (*bridge.Callback, bool, error) {
	w, err := s.prepareCallback(c)
	if err != nil {
		return nil, false, fmt.Errorf("record callback: %w", err)
	}
	res, err := q.ExecContext(ctx, "INSERT INTO "+s.callbacks+` (gateway, received_at, content_type, body, body_hash,
	verified, reason, payment_key, attempts, next_attempt_at, lease_owner, lease_until) VALUES `+callbackValues(w.until),
		w.args(c, w.lease)...)
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
	old, err := s.callbackIn(ctx, q, "gateway = ? AND body_hash = ?", c.Gateway, c.BodyHash)
	if err != nil {
		return nil, false, fmt.Errorf("record callback: %w", err)
	}
	return s.upgradeCallback(ctx, q, c, old, w)
}

// recordHold is how long RecordCallbacks holds, under a token of its own,
// a callback it records free (not leased): from its INSERT until it has
// read the row back and released it, a few milliseconds. Should the release
// fail, a sweep takes the callback up when the hold ends.
const recordHold = 15 * time.Second

// RecordCallbacks stores cs as RecordCallback would store each one in turn
// and returns one result per callback, in order: the callback (its ID set)
// and duplicate=false when it was recorded, or the existing record and
// duplicate=true. A second copy of a body in cs is a duplicate of the first.
// The callbacks are written by one statement, committed on its own (at
// most one database commit for all of them), so a caller bounds what it
// passes (bodies are sent in the statement); when an apply transaction is
// waiting at its commit point for it, the statement goes into that
// transaction instead and shares its commit (ride.go).
//
// Each row written carries a token in lease_owner: the callback's own
// lease when it is recorded leased, else a token of this call that is
// released once the rows are read back. The read-back (one SELECT per
// gateway, by the unique key) tells a row this statement wrote (its token)
// from one recorded before (a duplicate), without relying on the ids an
// auto-increment hands a multi-row INSERT, which need not be consecutive.
// A free row is written held (recordHold), not free, because a sweep could
// otherwise claim it between the INSERT and the read-back and replace its
// token.
//
// Duplicates are left alone by ON DUPLICATE KEY UPDATE gateway = gateway, a
// no-op, rather than by INSERT IGNORE: IGNORE also turns errors such as a
// value too long for its column into warnings and writes the row anyway,
// while here any error but the duplicate key fails the statement. The no-op
// must not name id: assigning the auto-increment column moves the
// statement's next id past the duplicate's, into ids a concurrent INSERT
// may hold, and a row meeting one of those on the primary key would be
// "updated" (not written) instead. A row missing from the read-back fails
// the call all the same. The rows are written in key order, so that two
// concurrent calls lock the duplicates they share in the same order.
//
// A verified callback whose body is recorded unverified upgrades that
// record as RecordCallback does, by a statement of its own (rare: the core
// no longer stores unverified callbacks). A call holding an unverified
// callback, or a single one, is recorded one callback at a time by
// RecordCallback.
func (s *Store) RecordCallbacks(ctx context.Context, cs []*bridge.Callback) ([]bridge.CallbackResult, error) {
	defer s.arrived()
	var out []bridge.CallbackResult
	err := s.write(ctx, func(ctx context.Context, q execer) (err error) {
		out, err = s.recordCallbacks(ctx, q, cs)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// recordCallbacks is RecordCallbacks on q: the database (each statement
// committed on its own) or the transaction of an apply the callbacks ride.
func (s *Store) recordCallbacks(ctx context.Context, q execer, cs []*bridge.Callback) ([]bridge.CallbackResult, error) {
	out := make([]bridge.CallbackResult, len(cs))
	one := len(cs) <= 1
	for _, c := range cs {
		one = one || !c.Verified
	}
	if one {
		for i, c := range cs {
			got, dup, err := s.recordCallback(ctx, q, c)
			if err != nil {
				return nil, err
			}
			out[i] = bridge.CallbackResult{Callback: got, Duplicate: dup}
		}
		return out, nil
	}
	type key struct{ gateway, hash string }
	type row struct {
		i     int // in cs
		w     callbackWrite
		token sql.NullString // written into lease_owner
		until string         // and into lease_until
	}
	var (
		rows     []*row
		first    = map[key]int{} // the first callback of each body
		copyOf   = make([]int, len(cs))
		hold     = sql.NullString{String: bridge.NewLease("receipt"), Valid: true}
		gateways []string             // in the order first seen
		tokens   = map[string][]any{} // per gateway, the tokens written
		hashes   = map[string][]any{} // and the bodies
		holding  = map[string]bool{}  // the gateways with rows under hold
	)
	for i, c := range cs {
		w, err := s.prepareCallback(c)
		if err != nil {
			return nil, fmt.Errorf("record callbacks: %w", err)
		}
		k := key{c.Gateway, c.BodyHash}
		if j, ok := first[k]; ok {
			copyOf[i] = j
			continue
		}
		first[k], copyOf[i] = i, i
		r := &row{i: i, w: w, token: w.lease, until: w.until}
		if !w.lease.Valid {
			r.token, r.until = hold, leaseEnd(recordHold)
		}
		rows = append(rows, r)
		if _, ok := hashes[c.Gateway]; !ok {
			gateways = append(gateways, c.Gateway)
		}
		hashes[c.Gateway] = append(hashes[c.Gateway], c.BodyHash)
		if r.token != hold || !holding[c.Gateway] {
			tokens[c.Gateway] = append(tokens[c.Gateway], r.token.String)
			holding[c.Gateway] = holding[c.Gateway] || r.token == hold
		}
	}
	sort.Slice(rows, func(a, b int) bool {
		ca, cb := cs[rows[a].i], cs[rows[b].i]
		return ca.Gateway < cb.Gateway || ca.Gateway == cb.Gateway && ca.BodyHash < cb.BodyHash
	})
	values := make([]string, len(rows))
	var args []any
	for n, r := range rows {
		values[n] = callbackValues(r.until)
		args = append(args, r.w.args(cs[r.i], r.token)...)
	}
	stmt := "INSERT INTO " + s.callbacks + ` (gateway, received_at, content_type, body, body_hash,
	verified, reason, payment_key, attempts, next_attempt_at, lease_owner, lease_until) VALUES ` +
		strings.Join(values, ", ") + " ON DUPLICATE KEY UPDATE gateway = gateway"
	// Read back: the rows with one of this call's tokens are the ones it
	// wrote (their bodies are not read again); the others were there before.
	// The reads, one per gateway, go in the same query as the INSERT, after
	// it (the connection allows several statements: cmd/wcbridge's openDB):
	// one round trip on a callback's way to its answer.
	type stored struct {
		c     *bridge.Callback
		token sql.NullString
	}
	query := []string{stmt}
	for _, gw := range gateways {
		toks, hs := tokens[gw], hashes[gw]
		query = append(query, "SELECT id, gateway, received_at, content_type, IF(lease_owner IN ("+placeholders(len(toks))+"), NULL, body), "+
			"body_hash, verified, reason, payment_key, applied_at, attempts, lease_owner FROM "+s.callbacks+
			" WHERE gateway = ? AND body_hash IN ("+placeholders(len(hs))+")"+lockingRead(q))
		args = append(append(append(args, toks...), gw), hs...)
	}
	retries := 2
	if inTx(q) {
		retries = 0 // a deadlock rolled the transaction back: its owner runs it again
	}
	var found map[key]stored
	err := mysqlkit.Retry(ctx, retries, func() error {
		found = map[key]stored{}
		rows, err := q.QueryContext(ctx, mysqlkit.Statements(query...), args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for i := range gateways {
			if i > 0 && !rows.NextResultSet() {
				if err := rows.Err(); err != nil {
					return err
				}
				return fmt.Errorf("read back: %d results, want %d", i, len(gateways))
			}
			for rows.Next() {
				var st stored
				c, err := scanCallback(withColumn{rows, &st.token})
				if err != nil {
					return err
				}
				st.c = c
				found[key{c.Gateway, c.BodyHash}] = st
			}
			if err := rows.Err(); err != nil {
				return err
			}
		}
		return rows.Close()
	})
	if err != nil {
		return nil, fmt.Errorf("record callbacks: %w", dbError(err))
	}
	var held []int64
	for _, r := range rows {
		c := cs[r.i]
		st, ok := found[key{c.Gateway, c.BodyHash}]
		switch {
		case !ok:
			// Neither written nor there: recorded before and deleted
			// since (retention). Say so, as RecordCallback would; the
			// gateway sends it again.
			return nil, fmt.Errorf("record callbacks: %s callback %s: %w", c.Gateway, c.BodyHash, errCallbackNotFound)
		case st.token == r.token:
			c.ID = st.c.ID
			out[r.i] = bridge.CallbackResult{Callback: c}
			if r.token == hold {
				held = append(held, c.ID)
			}
		default:
			got, dup, err := s.upgradeCallback(ctx, q, c, st.c, r.w)
			if err != nil {
				return nil, err
			}
			out[r.i] = bridge.CallbackResult{Callback: got, Duplicate: dup}
		}
	}
	if len(held) > 0 {
		in, inArgs := inIDs(held)
		if _, err := q.ExecContext(ctx, "UPDATE "+s.callbacks+" FORCE INDEX (`PRIMARY`) SET lease_owner = NULL, lease_until = NULL WHERE "+in+" AND lease_owner = ?",
			append(inArgs, hold.String)...); err != nil {
			return nil, fmt.Errorf("record callbacks: %w", dbError(err))
		}
	}
	for i, j := range copyOf {
		if i == j {
			continue
		}
		e := *out[j].Callback
		if !out[j].Duplicate {
			// As the first copy's row reads back.
			e = bridge.Callback{ID: e.ID, Gateway: e.Gateway, ReceivedAt: e.ReceivedAt, ContentType: e.ContentType,
				Body: bytes.Clone(e.Body), BodyHash: e.BodyHash, Verified: e.Verified, Reason: e.Reason,
				PaymentKey: e.PaymentKey, Attempts: e.Attempts}
		}
		out[i] = bridge.CallbackResult{Callback: &e, Duplicate: true}
	}
	return out, nil
}

// lockingRead is what makes a read in a transaction see the latest rows,
// those committed since its snapshot included (a duplicate's): a locking
// read. On the database (autocommit) a read sees them anyway.
func lockingRead(q execer) string {
	if inTx(q) {
		return " FOR UPDATE"
	}
	return ""
}

// withColumn scans the columns r's caller names and then one more into
// extra.
type withColumn struct {
	r     scanner
	extra any
}

func (w withColumn) Scan(dest ...any) error { return w.r.Scan(append(dest, w.extra)...) }

// placeholders is n comma-separated parameters.
func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

// callbackWrite is what recording a callback writes besides the callback's
// own fields: when a sweep may take it up, and the lease it is recorded
// under (lease_owner, and lease_until as SQL; NULL for none).
type callbackWrite struct {
	next  time.Time
	lease sql.NullString
	until string
}

// callbackValues is the VALUES row of a recorded callback, callbackWrite.args
// its parameters.
func callbackValues(until string) string {
	return "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, " + until + ")"
}

func (w callbackWrite) args(c *bridge.Callback, lease sql.NullString) []any {
	return []any{c.Gateway, dt(c.ReceivedAt), c.ContentType, c.Body, c.BodyHash,
		c.Verified, c.Reason, c.PaymentKey, c.Attempts, dt(w.next), lease}
}

// prepareCallback checks c and puts it in the form it is stored in: hash
// computed, times stamped, strings clipped to their columns, an unverified
// body truncated. It clears c.Lease when c is not to be recorded leased.
func (s *Store) prepareCallback(c *bridge.Callback) (callbackWrite, error) {
	if c.Gateway == "" || len(c.Gateway) > 32 {
		return callbackWrite{}, bridge.Errorf(bridge.EINVALID, "gateway name must have 1 to 32 characters")
	}
	if c.BodyHash == "" {
		c.BodyHash = BodyHash(c.Body)
	}
	if len(c.BodyHash) != 64 {
		return callbackWrite{}, bridge.Errorf(bridge.EINVALID, "body hash must be 64 hex characters")
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
	w := callbackWrite{next: c.ReceivedAt, until: "NULL"}
	if c.NextAttemptAt.After(w.next) {
		w.next = stamp(c.NextAttemptAt)
	}
	// A callback processed from memory by the replica that received it is
	// recorded leased to it, so that no sweep takes it up meanwhile.
	if c.Verified && c.Lease != "" && c.LeaseFor > 0 {
		if err := checkLease(c.Lease); err != nil {
			return callbackWrite{}, err
		}
		w.lease, w.until = sql.NullString{String: c.Lease, Valid: true}, leaseEnd(c.LeaseFor)
	} else {
		c.Lease = ""
	}
	return w, nil
}

// upgradeCallback records c, whose body is already recorded as old: a
// verified c upgrades an unverified old and counts as new; otherwise old is
// returned as a duplicate.
func (s *Store) upgradeCallback(ctx context.Context, q execer, c, old *bridge.Callback, w callbackWrite) (*bridge.Callback, bool, error) {
	if old.Verified || !c.Verified {
		return old, true, nil
	}
	// The condition on verified makes two replicas upgrading at once count
	// the callback once: the second one's UPDATE matches nothing.
	res, err := q.ExecContext(ctx, "UPDATE "+s.callbacks+` SET received_at = ?, content_type = ?, body = ?,
	verified = 1, reason = ?, payment_key = ?, attempts = 0, next_attempt_at = ?, applied_at = NULL, lease_owner = ?, lease_until = `+w.until+`
WHERE id = ? AND verified = 0`,
		dt(c.ReceivedAt), c.ContentType, c.Body, c.Reason, c.PaymentKey, dt(w.next), w.lease, old.ID)
	if err != nil {
		return nil, false, fmt.Errorf("record callback: %w", dbError(err))
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		old, err = s.callbackIn(ctx, q, "id = ?", old.ID)
		if err != nil {
			return nil, false, fmt.Errorf("record callback: %w", err)
		}
		return old, true, nil
	}
	c.ID = old.ID
	return c, false, nil
}

func (s *Store) callbackWhere(ctx context.Context, where string, args ...any) (*bridge.Callback, error) {
	return s.callbackIn(ctx, s.db, where, args...)
}

func (s *Store) callbackIn(ctx context.Context, q execer, where string, args ...any) (*bridge.Callback, error) {
	c, err := scanCallback(q.QueryRowContext(ctx, "SELECT "+callbackCols+" FROM "+s.callbacks+" WHERE "+where+lockingRead(q), args...))
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
