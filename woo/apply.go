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
	"github.com/wcbridge/wcbridge/bridge/mysqlkit"
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
		if err != nil && mysqlkit.Retryable(err) && attempt < s.opts.Retries && ctx.Err() == nil {
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

// ApplyOrderTx is ApplyOrder inside tx, a transaction of the caller's that
// writes other tables too (bridge.Applier): nothing is committed or retried
// here, and the storage mode is the last one detected (CurrentMode). A
// refusal (ErrOrderStatus, ErrPaymentMethod, ErrSuperseded, ...) leaves
// nothing written in tx. held, when not nil, takes the order's meta rows to
// write at the transaction's end (mysqlkit.Deferred); rows of the order
// already held there are written first, so that this update reads them.
func (s *Store) ApplyOrderTx(ctx context.Context, tx *sql.Tx, u bridge.OrderUpdate, held *mysqlkit.Deferred) (*bridge.OrderResult, error) {
	if err := validate(u); err != nil {
		return nil, fmt.Errorf("woo: apply %s to order %d: %w", u.Outcome, u.OrderID, err)
	}
	d, err := s.modeInTx(ctx)
	if err != nil {
		return nil, err
	}
	if err := held.FlushFor(ctx, tx, u.OrderID); err != nil {
		return nil, fmt.Errorf("woo: apply %s to order %d: write held-back rows: %w", u.Outcome, u.OrderID, mapErr(err))
	}
	res, err := s.applyTx(ctx, tx, d, u, held)
	if err != nil {
		return nil, fmt.Errorf("woo: apply %s to order %d: %w", u.Outcome, u.OrderID, mapErr(err))
	}
	return res, nil
}

func (s *Store) applyOnce(ctx context.Context, d *detection, u bridge.OrderUpdate) (*bridge.OrderResult, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	res, err := s.applyTx(ctx, tx, d, u, nil)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return res, nil
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
	// meta holds the first row of each meta key the update may write, and
	// event whether the update's event is recorded on this copy: all read
	// in one statement after the lock.
	meta  map[string]metaRow
	event bool
	// superseded is the first of the update's SupersededBy events found
	// on this copy, "" when none is.
	superseded string
}

// metaRow is a meta key's first row.
type metaRow struct {
	id    int64
	value string
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

func (s *Store) applyTx(ctx context.Context, tx *sql.Tx, d *detection, u bridge.OrderUpdate, held *mysqlkit.Deferred) (*bridge.OrderResult, error) {
	// The row lock is taken first, so that InnoDB's read view of every
	// plain SELECT that follows is made after a competing applier committed.
	keys := metaKeys(u.Meta)
	var (
		auth, mirror *copyState
		err          error
	)
	if isHPOS(d.mode) {
		if auth, err = s.lockHPOS(ctx, tx, u.OrderID, keys, u.EventID, u.SupersededBy); err != nil {
			return nil, err
		}
		if d.mode == bridge.StorageHPOSSync {
			p, err := s.lockPost(ctx, tx, u.OrderID, keys, u.EventID, u.SupersededBy)
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
		if auth, err = s.lockPost(ctx, tx, u.OrderID, keys, u.EventID, u.SupersededBy); err != nil {
			return nil, err
		}
		if auth != nil && auth.typ == placeholderType {
			auth = nil
		}
		if auth != nil && d.mode == bridge.StoragePostsSync && d.tables["wc_orders"] {
			h, err := s.lockHPOS(ctx, tx, u.OrderID, keys, u.EventID, u.SupersededBy)
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
	if auth.event {
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
		}
		return res, nil
	}
	if auth.superseded != "" {
		return nil, fmt.Errorf("event %s already applied: %w", auth.superseded, bridge.ErrSuperseded)
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
	// What belongs to the order rather than to one copy rides on the
	// authoritative copy's update: the note count on the post and the
	// analytics row.
	extra := orderExtras{noteCount: true, stats: changed && d.tables["wc_order_stats"], newlyPaid: paid && !auth.paid}
	// Every write below goes to the server in one round trip (batch), in
	// this order: the meta rows, the note, the copies' updates. The note's id
	// and the last update's row count are then still the server's to read
	// back at the end, with no statement keeping them.
	var (
		b      batch
		hits   []int
		meta   []metaInsert
		copies = []*copyState{auth}
	)
	if mirror != nil {
		copies = append(copies, mirror)
	}
	for _, cp := range copies {
		var m metaInsert
		if cp.hpos {
			m.head, m.tail, m.rows, m.args = hposMeta.write(s, c.id, cp.meta, c.meta, c.event, c.transition)
		} else {
			m.head, m.tail, m.rows, m.args = postMeta.write(s, c.id, cp.meta, postMetaOf(cp, c), c.event, c.transition)
		}
		if held == nil {
			b.add(m.head+" "+m.rows+" "+m.tail, m.args...)
		} else {
			// Held back for the transaction's end once every write
			// below has gone through.
			meta = append(meta, m)
		}
	}

	note := strings.TrimSpace(u.Note)
	if changed {
		note += " " + fmt.Sprintf("Order status changed from %s to %s.", statusLabel(from), statusLabel(to))
	}
	replaces := ""
	if u.ReplaceNote {
		replaces = u.EventID
	}
	noteAt := s.addNote(&b, st, c, note, u.CustomerNote, replaces)

	for i, cp := range copies {
		guard, x := "", orderExtras{}
		if cp == auth {
			guard, x = auth.status, extra
		}
		if cp.hpos {
			s.writeHPOS(&b, cp, c, guard, x)
		} else {
			s.writePost(&b, cp, c, guard, x)
		}
		if i == len(copies)-1 {
			hits = append(hits, b.last("ROW_COUNT()"))
		} else {
			hits = append(hits, b.changed())
		}
	}
	got, err := b.run(ctx, tx)
	if err != nil {
		return nil, fmt.Errorf("write order: %w", err)
	}
	// T is always later than the stored modified time, so a matched row is
	// a changed row whether or not the DSN sets clientFoundRows; the rows
	// joined to it change only with it, so no row changed means the row was
	// not matched.
	for _, i := range hits {
		if got[i] == 0 {
			return nil, fmt.Errorf("update order: no row changed: %w", bridge.ErrOrderStatus)
		}
	}
	for _, m := range meta {
		held.Add(m.head, m.tail, c.id, m.rows, m.args...)
	}
	noteID := got[noteAt]
	return &bridge.OrderResult{Changed: changed, From: from, To: to, NoteID: noteID, At: at}, nil
}

// orderExtras are the writes that go with the authoritative copy's update.
type orderExtras struct {
	noteCount bool // one more note counted on the order's post (wp_update_comment_count)
	stats     bool // the analytics row follows the status
	newlyPaid bool // and gets the paid date
}

// metaKeys lists the keys of meta in a stable order.
func metaKeys(meta map[string]string) []string {
	keys := make([]string, 0, len(meta))
	for k := range meta {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
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
// keys are the meta keys the update may write, event its event id and later
// its SupersededBy events: the copy's meta is read with them (metaTable.read).
func (s *Store) lockHPOS(ctx context.Context, tx *sql.Tx, id int64, keys []string, event string, later []string) (*copyState, error) {
	c := copyState{hpos: true}
	var updated, paid dbTime
	var opID sql.NullInt64
	// One statement locks the order row and its operational row.
	found, err := s.lockAndRead(ctx, tx, "SELECT COALESCE(o.type, ''), COALESCE(o.status, ''), COALESCE(o.payment_method, ''), o.date_updated_gmt, op.id, op.date_paid_gmt FROM "+
		s.t("wc_orders")+" o LEFT JOIN "+s.t("wc_order_operational_data")+" op ON op.order_id = o.id WHERE o.id = ? FOR UPDATE", []any{id},
		func(r *sql.Rows) error { return r.Scan(&c.typ, &c.status, &c.method, &updated, &opID, &paid) },
		hposMeta, &c, id, keys, event, later)
	if err != nil {
		return nil, fmt.Errorf("lock order: %w", err)
	} else if !found {
		return nil, nil
	}
	c.modified = updated.Time
	c.opRow, c.paid = opID.Valid, opID.Valid && paid.Valid
	return &c, nil
}

// postKeys are the postmeta keys a posts copy reads besides the update's
// own: its payment method and paid date, and the keys writePost sets.
var postKeys = []string{"_payment_method", "_date_paid", "_paid_date", "_transaction_id", "_date_completed", "_completed_date"}

// lockPost locks the posts row and reads the copy; nil when missing. keys
// and event are as for lockHPOS.
func (s *Store) lockPost(ctx context.Context, tx *sql.Tx, id int64, keys []string, event string, later []string) (*copyState, error) {
	var c copyState
	var modified dbTime
	found, err := s.lockAndRead(ctx, tx, "SELECT post_type, post_status, post_modified_gmt FROM "+s.t("posts")+" WHERE ID = ? FOR UPDATE", []any{id},
		func(r *sql.Rows) error { return r.Scan(&c.typ, &c.status, &modified) },
		postMeta, &c, id, append(append([]string{}, postKeys...), keys...), event, later)
	if err != nil {
		return nil, fmt.Errorf("lock post: %w", err)
	} else if !found {
		return nil, nil
	}
	c.modified = modified.Time
	c.method = c.meta["_payment_method"].value
	datePaid, paidDate := c.meta["_date_paid"].value, c.meta["_paid_date"].value
	n, _ := strconv.ParseInt(datePaid, 10, 64)
	c.paid = n > 0 || (datePaid == "" && paidDate != "")
	return &c, nil
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

// writeHPOS adds to b the update of the HPOS copy: the order row, its
// operational row and x, in one statement. With a guard, the update is
// conditional on the status read under lock. The caller checks that it
// changed the row.
func (s *Store) writeHPOS(b *batch, cp *copyState, c change, guard string, x orderExtras) {
	tables := s.t("wc_orders") + " o"
	set := "o.status = ?, o.date_updated_gmt = ?"
	args := []any{c.status, c.at}
	if c.txn != "" {
		set += ", o.transaction_id = ?"
		args = append(args, c.txn)
	}
	if (c.paid && !cp.paid) || c.completed {
		tables += " LEFT JOIN " + s.t("wc_order_operational_data") + " op ON op.order_id = o.id"
		if c.paid && !cp.paid {
			set += ", op.date_paid_gmt = COALESCE(op.date_paid_gmt, ?)"
			args = append(args, c.at)
		}
		if c.completed {
			set += ", op.date_completed_gmt = ?"
			args = append(args, c.at)
		}
	}
	tables, set, args = s.withExtras(tables, set, args, "o.id", x, c)
	q := "UPDATE " + tables + " SET " + set + " WHERE o.id = ?"
	args = append(args, c.id)
	if guard != "" {
		q += " AND o.status = ?"
		args = append(args, guard)
	}
	b.add(q, args...)
}

// writePost adds to b the update of the posts copy: the post row and x in
// one statement, as writeHPOS.
func (s *Store) writePost(b *batch, cp *copyState, c change, guard string, x orderExtras) {
	tables := s.t("posts") + " p"
	set := "p.post_status = ?, p.post_modified = ?, p.post_modified_gmt = ?"
	args := []any{c.status, c.atLocal, c.at}
	tables, set, args = s.withExtras(tables, set, args, "p.ID", x, c)
	q := "UPDATE " + tables + " SET " + set + " WHERE p.ID = ?"
	args = append(args, c.id)
	if guard != "" {
		q += " AND p.post_status = ?"
		args = append(args, guard)
	}
	b.add(q, args...)
}

// postMetaOf is the postmeta c sets on the posts copy cp: the update's own,
// and the keys WooCommerce keeps in postmeta rather than in columns.
func postMetaOf(cp *copyState, c change) map[string]string {
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
	return meta
}

// withExtras adds x's writes to an update of tables whose order id is idCol:
// the note count on the order's post (the same row when tables is posts)
// and the analytics row, which WooCommerce's import would move only after
// its own save hooks, which a SQL write never fires.
func (s *Store) withExtras(tables, set string, args []any, idCol string, x orderExtras, c change) (string, string, []any) {
	if x.noteCount {
		if idCol == "p.ID" {
			set += ", p.comment_count = p.comment_count + 1"
		} else {
			tables += " LEFT JOIN " + s.t("posts") + " np ON np.ID = " + idCol
			set += ", np.comment_count = np.comment_count + 1"
		}
	}
	if x.stats {
		tables += " LEFT JOIN " + s.t("wc_order_stats") + " st ON st.order_id = " + idCol
		set += ", st.status = ?"
		args = append(args, c.status)
		if x.newlyPaid {
			set += ", st.date_paid = ?"
			args = append(args, c.atLocal)
		}
		if c.completed {
			set += ", st.date_completed = ?"
			args = append(args, c.atLocal)
		}
	}
	return tables, set, args
}

// metaTable is postmeta or wc_orders_meta. Neither has a unique key on
// (owner, key), and WooCommerce reads the first row of a key, so a key is
// updated in its first row and inserted only when missing.
type metaTable struct {
	table, id, owner string
}

var (
	hposMeta = metaTable{table: "wc_orders_meta", id: "id", owner: "order_id"}
	postMeta = metaTable{table: "postmeta", id: "meta_id", owner: "post_id"}
)

// readQuery is the statement that reads the first row of each of keys for
// owner, whether event is recorded for it, and the first of later that is
// (superseded); scan reads its rows.
func (m metaTable) readQuery(s *Store, owner int64, keys []string, event string, later []string) (string, []any) {
	args := []any{owner, EventMetaKey, event}
	for _, e := range later {
		args = append(args, e)
	}
	where := m.owner + " = ? AND ((meta_key = ? AND meta_value IN (" + placeholders(1+len(later)) + "))"
	if len(keys) > 0 {
		where += " OR meta_key IN (" + placeholders(len(keys)) + ")"
		for _, k := range keys {
			args = append(args, k)
		}
	}
	// No ORDER BY: on a small table it makes the server scan the primary
	// key instead of using the owner's index. The first row is the lowest id.
	return "SELECT " + m.id + ", meta_key, COALESCE(meta_value, '') FROM " + s.t(m.table) + " WHERE " + where + ")", args
}

// scan reads readQuery's rows into the copy c.
func (m metaTable) scan(rows *sql.Rows, c *copyState, event string, later []string) error {
	c.meta = map[string]metaRow{}
	supersededID := int64(0)
	for rows.Next() {
		var r metaRow
		var k string
		if err := rows.Scan(&r.id, &k, &r.value); err != nil {
			return fmt.Errorf("read meta: %w", err)
		}
		if k == EventMetaKey {
			switch {
			case r.value == event:
				c.event = true
			case slices.Contains(later, r.value) && (c.superseded == "" || r.id < supersededID):
				c.superseded, supersededID = r.value, r.id
			}
			continue
		}
		if f, ok := c.meta[k]; !ok || r.id < f.id {
			c.meta[k] = r
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read meta: %w", err)
	}
	return nil
}

// lockAndRead runs lock, a query for one row locked FOR UPDATE, and the meta
// read of m in one round trip: scanned by scanLock (not called when the row
// is missing, found false), then the meta rows into c. The lock comes
// first, so that the read sees what a competing applier committed.
func (s *Store) lockAndRead(ctx context.Context, tx *sql.Tx, lock string, lockArgs []any, scanLock func(*sql.Rows) error,
	m metaTable, c *copyState, owner int64, keys []string, event string, later []string) (found bool, err error) {
	mq, margs := m.readQuery(s, owner, keys, event, later)
	rows, err := tx.QueryContext(ctx, mysqlkit.Statements(lock, mq), append(slices.Clip(lockArgs), margs...)...)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	if rows.Next() {
		found = true
		if err := scanLock(rows); err != nil {
			return false, err
		}
	}
	if err := rows.Err(); err != nil {
		return false, err
	}
	if !rows.NextResultSet() {
		if err := rows.Err(); err != nil {
			return false, err
		}
		return false, errors.New("read meta: no result")
	}
	if err := m.scan(rows, c, event, later); err != nil {
		return false, err
	}
	return found, rows.Close()
}

// metaInsert is the INSERT of one copy's meta rows, in the parts
// mysqlkit.Deferred takes.
type metaInsert struct {
	head, tail, rows string
	args             []any
}

// write returns the statement that records event (and transition) and sets
// meta, in parts (head VALUES, rows, tail): a key missing from first (read
// by read) is inserted, a key whose first row holds another value is
// updated in that row, through its primary key.
func (m metaTable) write(s *Store, owner int64, first map[string]metaRow, meta map[string]string, event, transition string) (head, tail, rows string, args []any) {
	head, tail = "INSERT INTO "+s.t(m.table)+" ("+m.id+", "+m.owner+", meta_key, meta_value) VALUES", "ON DUPLICATE KEY UPDATE meta_value = VALUES(meta_value)"
	q := "(NULL, ?, ?, ?)"
	args = []any{owner, EventMetaKey, event}
	if transition != "" {
		q += ", (NULL, ?, ?, ?)"
		args = append(args, owner, TransitionMetaKey, transition)
	}
	for _, k := range metaKeys(meta) {
		r, ok := first[k]
		switch {
		case !ok:
			q += ", (NULL, ?, ?, ?)"
			args = append(args, owner, k, meta[k])
		case r.value != meta[k]:
			q += ", (?, ?, ?, ?)"
			args = append(args, r.id, owner, k, meta[k])
		}
	}
	// Only the rows named by id can collide, on the primary key.
	return head, tail, q, args
}

// addNote adds to b an order note written the way WC_Order::add_order_note()
// does for a system note (docs/woocommerce-tables.md §4); the authoritative
// copy's update counts it on the order's post (orderExtras). A customer
// note is marked so in commentmeta, and a note a later update of event
// replaces (replaces, when not empty) is marked with it, so it is found
// again. It returns the index of the note's id in b's results; the caller
// adds no insert after it that makes an id.
func (s *Store) addNote(b *batch, st *site, c change, note string, customer bool, replaces string) int {
	b.add("INSERT INTO "+s.t("comments")+` (comment_post_ID, comment_author, comment_author_email,
 comment_author_url, comment_author_IP, comment_date, comment_date_gmt, comment_content, comment_karma, comment_approved,
 comment_agent, comment_type, comment_parent, user_id) VALUES (?, 'WooCommerce', ?, '', '', ?, ?, ?, 0, '1', 'WooCommerce', 'order_note', 0, 0)`,
		c.id, st.email, c.atLocal, c.at, note)
	if !customer && replaces == "" {
		return b.last("LAST_INSERT_ID()")
	}
	name, i := b.insertID()
	if customer {
		b.add("INSERT INTO " + s.t("commentmeta") + " (comment_id, meta_key, meta_value) VALUES (" + name + ", 'is_customer_note', '1')")
	}
	if replaces != "" {
		b.add("INSERT INTO "+s.t("commentmeta")+" (comment_id, meta_key, meta_value) VALUES ("+name+", ?, ?)", EventMetaKey, replaces)
	}
	return i
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
