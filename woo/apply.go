package woo

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wcbridge/wcbridge/bridge"
)

// ApplyOrder applies one outcome to one order in one transaction, following
// the per-mode checklist of docs/woocommerce-tables.md §7: lock the authoritative row, check
// type, payment method, idempotency and the status transition, then write the
// authoritative copy and, when sync is on, the other copy with identical
// values and the same instant, so WooCommerce's sync sees them as equal.
// Deadlocks and lock wait timeouts retry the whole transaction.
func (s *Store) ApplyOrder(ctx context.Context, u bridge.OrderUpdate) (*bridge.OrderResult, error) {
	if err := validate(u); err != nil {
		return nil, fmt.Errorf("woo: apply %s to order %d: %w", u.Outcome, u.OrderID, err)
	}
	d, err := s.mode(ctx)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		res, err := s.applyOnce(ctx, d, u)
		if err != nil && retryable(err) && attempt < s.opts.Retries {
			select {
			case <-ctx.Done():
			case <-time.After(time.Duration(attempt+1) * 20 * time.Millisecond):
				continue
			}
		}
		if err != nil {
			return nil, fmt.Errorf("woo: apply %s to order %d: %w", u.Outcome, u.OrderID, mapErr(err))
		}
		return res, nil
	}
}

func validate(u bridge.OrderUpdate) error {
	invalid := func(format string, args ...any) error { return bridge.Errorf(bridge.EINVALID, format, args...) }
	switch {
	case u.OrderID <= 0:
		return invalid("order id %d invalid", u.OrderID)
	case u.EventID == "":
		return invalid("event id required")
	case u.PaymentMethod == "":
		return invalid("payment method required")
	case strings.TrimSpace(u.Note) == "":
		return invalid("order note required")
	case u.ReplaceNote && (u.Outcome != bridge.OutcomeNote || u.LateOutcome != ""):
		return invalid("only a note-only update can replace its note")
	}
	switch u.Outcome {
	case bridge.OutcomePaid, bridge.OutcomeOnHold, bridge.OutcomeFailed, bridge.OutcomeCancelled, bridge.OutcomeNote:
	default:
		return invalid("unknown outcome %q", u.Outcome)
	}
	switch u.LateOutcome {
	case "", bridge.OutcomePaid, bridge.OutcomeOnHold, bridge.OutcomeNote:
	default:
		return invalid("late outcome %q: want paid, on-hold or note", u.LateOutcome)
	}
	switch u.PaidStatus {
	case "", bridge.StatusProcessing, bridge.StatusCompleted:
	default:
		return invalid("paid status %q: want processing or completed", u.PaidStatus)
	}
	for k := range u.Meta {
		if !strings.HasPrefix(k, MetaPrefix) || k == EventMetaKey || k == TransitionMetaKey {
			return invalid("meta key %q: want a %s key other than %s and %s", k, MetaPrefix, EventMetaKey, TransitionMetaKey)
		}
	}
	return nil
}

// Statuses an outcome may start from (docs/woocommerce-tables.md §5, §6). A paid order
// never goes back to on-hold, failed or cancelled. On-hold may follow
// cancelled: money arrived for an order WooCommerce's unpaid-order timer
// had cancelled, and the shop must look at it.
var transitions = map[bridge.OrderOutcome][]string{
	bridge.OutcomePaid:      {bridge.StatusPending, bridge.StatusOnHold, bridge.StatusFailed, bridge.StatusCancelled, bridge.StatusCheckoutDraft},
	bridge.OutcomeOnHold:    {bridge.StatusPending, bridge.StatusFailed, bridge.StatusCancelled, bridge.StatusCheckoutDraft},
	bridge.OutcomeFailed:    {bridge.StatusPending, bridge.StatusOnHold, bridge.StatusCheckoutDraft},
	bridge.OutcomeCancelled: {bridge.StatusPending, bridge.StatusOnHold, bridge.StatusFailed, bridge.StatusCheckoutDraft},
}

// transition decides the target status of outcome o from status from.
// write is false when nothing at all is to be written: a paid outcome on an
// order already paid, which WooCommerce's payment_complete() also ignores.
func transition(o bridge.OrderOutcome, from, paidTo string) (to string, write bool, err error) {
	switch {
	case from == "trash" || from == "auto-draft" || from == "draft":
		return "", false, fmt.Errorf("order is %s: %w", from, bridge.ErrOrderStatus)
	case o == bridge.OutcomeNote:
		return from, true, nil
	case o == bridge.OutcomePaid && bridge.IsPaidStatus(from):
		return from, false, nil
	case o != bridge.OutcomePaid && from == string(o):
		// The same non-paid outcome again (e.g. a second underpayment):
		// the status stays, the note and meta are still worth keeping.
		return from, true, nil
	case slices.Contains(transitions[o], from):
		if o == bridge.OutcomePaid {
			return paidTo, true, nil
		}
		return string(o), true, nil
	}
	return "", false, fmt.Errorf("%s to %s: %w", from, o, bridge.ErrOrderStatus)
}

// copyState is one storage's copy of an order, read under lock.
type copyState struct {
	hpos     bool
	typ      string
	status   string // as stored, with prefix
	method   string
	modified time.Time
	paid     bool // has a paid date
	opRow    bool // HPOS: the operational data row exists
}

// change is what is written to every copy.
type change struct {
	id          int64
	status      string // stored form
	at, atLocal string // T and T in site time, "Y-m-d H:i:s"
	unix        string // T as Unix seconds
	txn         string // transaction id to set, "" to leave
	paid        bool   // set the paid date where it is empty
	completed   bool   // set the completed date
	meta        map[string]string
	event       string
	transition  string // "<event> <from> <to>" when the status changed
}

func (s *Store) applyOnce(ctx context.Context, d *detection, u bridge.OrderUpdate) (*bridge.OrderResult, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	// The row lock is taken first, so that InnoDB's read view of every
	// plain SELECT that follows is made after a competing applier committed.
	var auth, mirror *copyState
	if isHPOS(d.mode) {
		if auth, err = s.lockHPOS(ctx, tx, u.OrderID); err != nil {
			return nil, err
		}
		if d.mode == bridge.StorageHPOSSync {
			p, err := s.lockPost(ctx, tx, u.OrderID)
			if err != nil {
				return nil, err
			}
			// A placeholder is not synced yet: background sync will create
			// the post from HPOS.
			if p != nil && p.typ == "shop_order" {
				mirror = p
			}
		}
	} else {
		if auth, err = s.lockPost(ctx, tx, u.OrderID); err != nil {
			return nil, err
		}
		if auth != nil && auth.typ == placeholderType {
			auth = nil
		}
		if auth != nil && d.mode == bridge.StoragePostsSync && d.tables["wc_orders"] {
			h, err := s.lockHPOS(ctx, tx, u.OrderID)
			if err != nil {
				return nil, err
			}
			// Without its operational row the HPOS copy is left older than
			// the post, so background sync migrates the whole order.
			if h != nil && h.opRow {
				mirror = h
			}
		}
	}
	if auth == nil {
		return nil, bridge.ErrOrderNotFound
	}
	if auth.typ != "shop_order" {
		return nil, fmt.Errorf("type %s: %w", auth.typ, bridge.ErrOrderType)
	}
	if auth.method != u.PaymentMethod {
		return nil, fmt.Errorf("payment method %q, want %q: %w", auth.method, u.PaymentMethod, bridge.ErrPaymentMethod)
	}
	from := unprefixed(auth.status)
	dup, superseded, err := s.hasEvent(ctx, tx, auth.hpos, u.OrderID, u.EventID, u.SupersededBy)
	if err != nil {
		return nil, err
	}
	if dup {
		// Report the transition the event made, so a notification re-queued
		// after a crash still tells WordPress where the order came from.
		res := &bridge.OrderResult{Duplicate: true, From: from, To: from}
		if f, t, ok, err := s.eventTransition(ctx, tx, auth.hpos, u.OrderID, u.EventID); err != nil {
			return nil, err
		} else if ok {
			res.From, res.To = f, t
		}
		if u.ReplaceNote {
			if res.NoteID, err = s.replaceNote(ctx, tx, u.OrderID, u.EventID, strings.TrimSpace(u.Note)); err != nil {
				return nil, err
			}
			if err := tx.Commit(); err != nil {
				return nil, err
			}
		}
		return res, nil
	}
	if superseded != "" {
		return nil, fmt.Errorf("event %s already applied: %w", superseded, bridge.ErrSuperseded)
	}
	if from == bridge.StatusCancelled && u.LateOutcome != "" {
		u.Outcome = u.LateOutcome
		u.Note = strings.TrimSpace(u.Note + " " + u.LateNote)
	}

	paidTo := u.PaidStatus
	if paidTo == "" {
		paidTo = s.opts.PaidStatus
	}
	if paidTo == "" && u.Outcome == bridge.OutcomePaid {
		items, err := s.readItems(ctx, tx, d, u.OrderID)
		if err != nil {
			return nil, err
		}
		o := bridge.Order{Items: items}
		paidTo = bridge.StatusCompleted
		if o.NeedsProcessing() {
			paidTo = bridge.StatusProcessing
		}
	}
	to, write, err := transition(u.Outcome, from, paidTo)
	if err != nil {
		return nil, err
	}
	if !write {
		return &bridge.OrderResult{From: from, To: to}, nil
	}
	changed := to != from
	paid := u.Outcome == bridge.OutcomePaid && changed
	if paid && auth.hpos && !auth.opRow {
		return nil, fmt.Errorf("order %d has no %s row", u.OrderID, s.t("wc_order_operational_data"))
	}

	st := d.site
	at := s.instant(u.At, auth, mirror)
	c := change{
		id:        u.OrderID,
		status:    prefixed(to),
		at:        at.Format(dateFormat),
		atLocal:   at.In(st.loc).Format(dateFormat),
		unix:      strconv.FormatInt(at.Unix(), 10),
		paid:      paid,
		completed: changed && to == bridge.StatusCompleted,
		meta:      u.Meta,
		event:     u.EventID,
	}
	if changed {
		c.transition = u.EventID + " " + from + " " + to
	}
	if paid {
		c.txn = u.TransactionID
	}
	for _, cp := range []*copyState{auth, mirror} {
		if cp == nil {
			continue
		}
		guard := ""
		if cp == auth {
			guard = auth.status
		}
		if cp.hpos {
			err = s.writeHPOS(ctx, tx, cp, c, guard)
		} else {
			err = s.writePost(ctx, tx, cp, c, guard)
		}
		if err != nil {
			return nil, err
		}
	}

	note := strings.TrimSpace(u.Note)
	if changed {
		note += " " + fmt.Sprintf("Order status changed from %s to %s.", statusLabel(from), statusLabel(to))
	}
	noteID, err := s.addNote(ctx, tx, st, c, note, u.CustomerNote)
	if err != nil {
		return nil, err
	}
	if u.ReplaceNote {
		// The note is found again by its event when a later update replaces it.
		if _, err := tx.ExecContext(ctx, "INSERT INTO "+s.t("commentmeta")+" (comment_id, meta_key, meta_value) VALUES (?, ?, ?)", noteID, EventMetaKey, u.EventID); err != nil {
			return nil, fmt.Errorf("mark note: %w", err)
		}
	}
	if changed && d.tables["wc_order_stats"] {
		if err := s.updateStats(ctx, tx, c, paid && !auth.paid); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return &bridge.OrderResult{Changed: changed, From: from, To: to, NoteID: noteID, At: at}, nil
}

// instant picks T: the requested time (or now) in whole UTC seconds, moved
// to one second after the newer copy's modified time when it is not later,
// because sync lets a copy that is as new or newer win (docs/woocommerce-tables.md §3).
func (s *Store) instant(want time.Time, copies ...*copyState) time.Time {
	if want.IsZero() {
		want = s.opts.Now()
	}
	at := want.UTC().Truncate(time.Second)
	for _, c := range copies {
		if c != nil && !at.After(c.modified) {
			at = c.modified.Add(time.Second)
		}
	}
	return at
}

// lockHPOS locks the wc_orders row and reads the copy; nil when missing.
func (s *Store) lockHPOS(ctx context.Context, tx *sql.Tx, id int64) (*copyState, error) {
	c := copyState{hpos: true}
	var updated, paid dbTime
	var opID sql.NullInt64
	// One statement locks the order row and its operational row.
	err := tx.QueryRowContext(ctx, "SELECT COALESCE(o.type, ''), COALESCE(o.status, ''), COALESCE(o.payment_method, ''), o.date_updated_gmt, op.id, op.date_paid_gmt FROM "+
		s.t("wc_orders")+" o LEFT JOIN "+s.t("wc_order_operational_data")+" op ON op.order_id = o.id WHERE o.id = ? FOR UPDATE", id).
		Scan(&c.typ, &c.status, &c.method, &updated, &opID, &paid)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("lock order: %w", err)
	}
	c.modified = updated.t
	c.opRow, c.paid = opID.Valid, opID.Valid && paid.ok
	return &c, nil
}

// lockPost locks the posts row and reads the copy; nil when missing.
func (s *Store) lockPost(ctx context.Context, tx *sql.Tx, id int64) (*copyState, error) {
	var c copyState
	var modified dbTime
	err := tx.QueryRowContext(ctx, "SELECT post_type, post_status, post_modified_gmt FROM "+s.t("posts")+" WHERE ID = ? FOR UPDATE", id).
		Scan(&c.typ, &c.status, &modified)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("lock post: %w", err)
	}
	c.modified = modified.t
	meta, err := metaRows(ctx, tx, "SELECT meta_key, meta_value FROM "+s.t("postmeta")+" WHERE post_id = ? AND meta_key IN ('_payment_method', '_date_paid', '_paid_date') ORDER BY meta_id", id)
	if err != nil {
		return nil, fmt.Errorf("read post meta: %w", err)
	}
	c.method = meta["_payment_method"]
	n, _ := strconv.ParseInt(meta["_date_paid"], 10, 64)
	c.paid = n > 0 || (meta["_date_paid"] == "" && meta["_paid_date"] != "")
	return &c, nil
}

// hasEvent reports, in one query, whether the order has event (dup) and
// which of later, if any, it has (superseded: the first found).
func (s *Store) hasEvent(ctx context.Context, tx *sql.Tx, hpos bool, id int64, event string, later []string) (dup bool, superseded string, err error) {
	events := append([]any{event}, anySlice(later)...)
	in := "?" + strings.Repeat(", ?", len(later))
	q := "SELECT meta_value FROM " + s.t("postmeta") + " WHERE post_id = ? AND meta_key = ? AND meta_value IN (" + in + ")"
	if hpos {
		q = "SELECT meta_value FROM " + s.t("wc_orders_meta") + " WHERE order_id = ? AND meta_key = ? AND meta_value IN (" + in + ")"
	}
	rows, err := tx.QueryContext(ctx, q, append([]any{id, EventMetaKey}, events...)...)
	if err != nil {
		return false, "", fmt.Errorf("check event: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return false, "", fmt.Errorf("check event: %w", err)
		}
		if v == event {
			dup = true
		} else if superseded == "" {
			superseded = v
		}
	}
	if err := rows.Err(); err != nil {
		return false, "", fmt.Errorf("check event: %w", err)
	}
	return dup, superseded, nil
}

func anySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// eventTransition reads the status change an applied event made, from its
// TransitionMetaKey row; ok is false when it changed no status.
func (s *Store) eventTransition(ctx context.Context, tx *sql.Tx, hpos bool, id int64, event string) (from, to string, ok bool, err error) {
	q := "SELECT meta_value FROM " + s.t("postmeta") + " WHERE post_id = ? AND meta_key = ? AND meta_value LIKE ? ORDER BY meta_id LIMIT 1"
	if hpos {
		q = "SELECT meta_value FROM " + s.t("wc_orders_meta") + " WHERE order_id = ? AND meta_key = ? AND meta_value LIKE ? ORDER BY id LIMIT 1"
	}
	var v string
	err = tx.QueryRowContext(ctx, q, id, TransitionMetaKey, likePrefix(event+" ")).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", false, nil
	} else if err != nil {
		return "", "", false, fmt.Errorf("read transition: %w", err)
	}
	parts := strings.Fields(strings.TrimPrefix(v, event+" "))
	if len(parts) != 2 {
		return "", "", false, nil
	}
	return parts[0], parts[1], true, nil
}

// likePrefix escapes s for a LIKE pattern matching values that start with it.
func likePrefix(s string) string {
	r := strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`)
	return r.Replace(s) + "%"
}

// writeHPOS writes c to the HPOS copy. With a guard, the wc_orders update is
// conditional on the status read under lock and must hit exactly one row.
func (s *Store) writeHPOS(ctx context.Context, tx *sql.Tx, cp *copyState, c change, guard string) error {
	q := "UPDATE " + s.t("wc_orders") + " SET status = ?, date_updated_gmt = ?"
	args := []any{c.status, c.at}
	if c.txn != "" {
		q += ", transaction_id = ?"
		args = append(args, c.txn)
	}
	q += " WHERE id = ?"
	args = append(args, c.id)
	if guard != "" {
		q += " AND status = ?"
		args = append(args, guard)
	}
	if err := execOne(ctx, tx, q, args...); err != nil {
		return fmt.Errorf("update order: %w", err)
	}
	if c.paid && !cp.paid {
		if _, err := tx.ExecContext(ctx, "UPDATE "+s.t("wc_order_operational_data")+" SET date_paid_gmt = ? WHERE order_id = ? AND date_paid_gmt IS NULL", c.at, c.id); err != nil {
			return fmt.Errorf("set paid date: %w", err)
		}
	}
	if c.completed {
		if _, err := tx.ExecContext(ctx, "UPDATE "+s.t("wc_order_operational_data")+" SET date_completed_gmt = ? WHERE order_id = ?", c.at, c.id); err != nil {
			return fmt.Errorf("set completed date: %w", err)
		}
	}
	m := metaTable{table: s.t("wc_orders_meta"), id: "id", owner: "order_id"}
	return m.write(ctx, tx, c.id, c.meta, c.event, c.transition)
}

// writePost writes c to the posts copy: the post row and its postmeta.
func (s *Store) writePost(ctx context.Context, tx *sql.Tx, cp *copyState, c change, guard string) error {
	q := "UPDATE " + s.t("posts") + " SET post_status = ?, post_modified = ?, post_modified_gmt = ? WHERE ID = ?"
	args := []any{c.status, c.atLocal, c.at, c.id}
	if guard != "" {
		q += " AND post_status = ?"
		args = append(args, guard)
	}
	if err := execOne(ctx, tx, q, args...); err != nil {
		return fmt.Errorf("update post: %w", err)
	}
	meta := map[string]string{}
	for k, v := range c.meta {
		meta[k] = v
	}
	if c.txn != "" {
		meta["_transaction_id"] = c.txn
	}
	if c.paid && !cp.paid {
		meta["_date_paid"], meta["_paid_date"] = c.unix, c.atLocal
	}
	if c.completed {
		meta["_date_completed"], meta["_completed_date"] = c.unix, c.atLocal
	}
	m := metaTable{table: s.t("postmeta"), id: "meta_id", owner: "post_id"}
	return m.write(ctx, tx, c.id, meta, c.event, c.transition)
}

// execOne runs an update that must change exactly one row. T is always
// later than the stored modified time, so a matched row is a changed row
// whether or not the DSN sets clientFoundRows.
func execOne(ctx context.Context, tx *sql.Tx, q string, args ...any) error {
	res, err := tx.ExecContext(ctx, q, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n != 1 {
		return fmt.Errorf("%d rows changed, want 1: %w", n, bridge.ErrOrderStatus)
	}
	return nil
}

// metaTable is postmeta or wc_orders_meta. Neither has a unique key on
// (owner, key), and WooCommerce reads the first row of a key, so a key is
// updated in its first row and inserted only when missing.
type metaTable struct {
	table, id, owner string
}

func (m metaTable) write(ctx context.Context, tx *sql.Tx, owner int64, meta map[string]string, event, transition string) error {
	keys := make([]string, 0, len(meta))
	for k := range meta {
		keys = append(keys, k)
	}
	slices.Sort(keys) // a stable order of statements keeps lock order stable
	// One read finds the first row of every key; one insert adds the
	// missing keys and the event record; a key whose value changed is
	// updated in its first row.
	type row struct {
		id    int64
		value string
	}
	first := map[string]row{}
	if len(keys) > 0 {
		args := []any{owner}
		for _, k := range keys {
			args = append(args, k)
		}
		rows, err := tx.QueryContext(ctx, "SELECT "+m.id+", meta_key, COALESCE(meta_value, '') FROM "+m.table+" WHERE "+m.owner+" = ? AND meta_key IN ("+placeholders(len(keys))+") ORDER BY "+m.id, args...)
		if err != nil {
			return fmt.Errorf("read meta: %w", err)
		}
		for rows.Next() {
			var r row
			var k string
			if err := rows.Scan(&r.id, &k, &r.value); err != nil {
				rows.Close()
				return fmt.Errorf("read meta: %w", err)
			}
			if _, seen := first[k]; !seen {
				first[k] = r
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read meta: %w", err)
		}
	}
	insert := "INSERT INTO " + m.table + " (" + m.owner + ", meta_key, meta_value) VALUES (?, ?, ?)"
	args := []any{owner, EventMetaKey, event}
	if transition != "" {
		insert += ", (?, ?, ?)"
		args = append(args, owner, TransitionMetaKey, transition)
	}
	for _, k := range keys {
		r, ok := first[k]
		switch {
		case !ok:
			insert += ", (?, ?, ?)"
			args = append(args, owner, k, meta[k])
		case r.value != meta[k]:
			if _, err := tx.ExecContext(ctx, "UPDATE "+m.table+" SET meta_value = ? WHERE "+m.id+" = ?", meta[k], r.id); err != nil {
				return fmt.Errorf("write meta %s: %w", k, err)
			}
		}
	}
	if _, err := tx.ExecContext(ctx, insert, args...); err != nil {
		return fmt.Errorf("write meta and event: %w", err)
	}
	return nil
}

// addNote writes an order note the way WC_Order::add_order_note() does for a
// system note (docs/woocommerce-tables.md §4) and counts it on the order's post.
func (s *Store) addNote(ctx context.Context, tx *sql.Tx, st *site, c change, note string, customer bool) (int64, error) {
	res, err := tx.ExecContext(ctx, "INSERT INTO "+s.t("comments")+` (comment_post_ID, comment_author, comment_author_email,
 comment_author_url, comment_author_IP, comment_date, comment_date_gmt, comment_content, comment_karma, comment_approved,
 comment_agent, comment_type, comment_parent, user_id) VALUES (?, 'WooCommerce', ?, '', '', ?, ?, ?, 0, '1', 'WooCommerce', 'order_note', 0, 0)`,
		c.id, st.email, c.atLocal, c.at, note)
	if err != nil {
		return 0, fmt.Errorf("add note: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("add note: %w", err)
	}
	if customer {
		if _, err := tx.ExecContext(ctx, "INSERT INTO "+s.t("commentmeta")+" (comment_id, meta_key, meta_value) VALUES (?, 'is_customer_note', '1')", id); err != nil {
			return 0, fmt.Errorf("mark customer note: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, "UPDATE "+s.t("posts")+" SET comment_count = comment_count + 1 WHERE ID = ?", c.id); err != nil {
		return 0, fmt.Errorf("count note: %w", err)
	}
	return id, nil
}

// replaceNote sets the text of the order note written for event, when it
// differs, and returns the note's id (0 when there is none to replace).
func (s *Store) replaceNote(ctx context.Context, tx *sql.Tx, orderID int64, event, note string) (int64, error) {
	var id int64
	var old string
	err := tx.QueryRowContext(ctx, "SELECT c.comment_ID, c.comment_content FROM "+s.t("comments")+" c JOIN "+s.t("commentmeta")+
		" m ON m.comment_id = c.comment_ID WHERE c.comment_post_ID = ? AND m.meta_key = ? AND m.meta_value = ? ORDER BY c.comment_ID LIMIT 1",
		orderID, EventMetaKey, event).Scan(&id, &old)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	} else if err != nil {
		return 0, fmt.Errorf("find note: %w", err)
	}
	if old == note {
		return 0, nil
	}
	if _, err := tx.ExecContext(ctx, "UPDATE "+s.t("comments")+" SET comment_content = ? WHERE comment_ID = ?", note, id); err != nil {
		return 0, fmt.Errorf("replace note: %w", err)
	}
	return id, nil
}

// updateStats moves the analytics row along, which WooCommerce's import would
// do only after its own save hooks, which a SQL write never fires (§9).
func (s *Store) updateStats(ctx context.Context, tx *sql.Tx, c change, newlyPaid bool) error {
	q := "UPDATE " + s.t("wc_order_stats") + " SET status = ?"
	args := []any{c.status}
	if newlyPaid {
		q += ", date_paid = ?"
		args = append(args, c.atLocal)
	}
	if c.completed {
		q += ", date_completed = ?"
		args = append(args, c.atLocal)
	}
	q += " WHERE order_id = ?"
	if _, err := tx.ExecContext(ctx, q, append(args, c.id)...); err != nil {
		return fmt.Errorf("update analytics: %w", err)
	}
	return nil
}

// statusLabel is WooCommerce's English label of a status, used in the
// transition note.
func statusLabel(s string) string {
	switch s {
	case bridge.StatusPending:
		return "Pending payment"
	case bridge.StatusProcessing:
		return "Processing"
	case bridge.StatusOnHold:
		return "On hold"
	case bridge.StatusCompleted:
		return "Completed"
	case bridge.StatusCancelled:
		return "Cancelled"
	case bridge.StatusRefunded:
		return "Refunded"
	case bridge.StatusFailed:
		return "Failed"
	case bridge.StatusCheckoutDraft:
		return "Draft"
	}
	return s
}
