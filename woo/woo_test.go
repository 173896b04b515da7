package woo_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/woo"
	"github.com/wcbridge/wcbridge/woo/wootest"
)

var modes = []bridge.StorageMode{bridge.StoragePosts, bridge.StoragePostsSync, bridge.StorageHPOSSync, bridge.StorageHPOS}

const method = "wcbridge_streampay"

// t0 is the clock of every store in these tests; seeds are older.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is a settable clock for woo.Options.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

type fixture struct {
	*wootest.Store
	woo   *woo.Store
	clock *clock
}

func newFixture(t *testing.T, mode bridge.StorageMode, prefix string, opts ...wootest.InstallOption) *fixture {
	t.Helper()
	ws := wootest.NewStore(t, mode, prefix, opts...)
	c := &clock{now: t0}
	s, err := woo.New(ws.DB.DB, prefix, woo.Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{Store: ws, woo: s, clock: c}
}

// seed writes a pending order created two hours before t0.
func (f *fixture) seed(t *testing.T, o wootest.OrderSeed) int64 {
	t.Helper()
	if o.Created.IsZero() {
		o.Created = t0.Add(-2 * time.Hour)
	}
	return f.SeedOrder(t, o)
}

var physical = []wootest.ItemSeed{{Name: "Mug", Qty: 2, Total: "20.00"}, {Name: "E-book", Virtual: true, Downloadable: true}}
var digital = []wootest.ItemSeed{{Name: "E-book", Virtual: true, Downloadable: true}, {Name: "Song", Virtual: true, Downloadable: true}}

// metaKeys are the meta keys whose rows the state compares, every value.
var metaKeys = []string{"_transaction_id", "_date_paid", "_paid_date", "_date_completed", "_completed_date",
	"_order_stock_reduced", "_recorded_sales", "_download_permissions_granted", "_new_order_email_sent", "_payment_method",
	woo.EventMetaKey, woo.TransitionMetaKey, "_wcbridge_payment_id"}

// state reads every column an update may touch, in both copies, the
// analytics row and the notes. Meta values of a key are joined with "|", so
// a duplicated row shows.
func state(t *testing.T, s *wootest.Store, id int64) map[string]string {
	t.Helper()
	m := map[string]string{}
	put := func(prefix string, rows []map[string]string) {
		for _, r := range rows {
			for k, v := range r {
				m[prefix+k] = v
			}
		}
	}
	put("hpos.", s.Rows(t, "SELECT status, transaction_id, date_updated_gmt, total_amount FROM {p}wc_orders WHERE id = ?", id))
	put("op.", s.Rows(t, `SELECT date_paid_gmt, date_completed_gmt, order_stock_reduced, recorded_sales, download_permission_granted,
 new_order_email_sent, coupon_usages_are_counted FROM {p}wc_order_operational_data WHERE order_id = ?`, id))
	put("post.", s.Rows(t, "SELECT post_type, post_status, post_date, post_modified, post_modified_gmt, comment_count FROM {p}posts WHERE ID = ?", id))
	put("stats.", s.Rows(t, "SELECT status, date_paid, date_completed FROM {p}wc_order_stats WHERE order_id = ?", id))
	for _, k := range metaKeys {
		if v := s.PostMeta(t, id, k); len(v) > 0 {
			m["postmeta."+k] = strings.Join(v, "|")
		}
		if v := s.OrderMeta(t, id, k); len(v) > 0 {
			m["hposmeta."+k] = strings.Join(v, "|")
		}
	}
	m["notes"] = strconv.Itoa(s.Count(t, "comments", "comment_post_ID = ?", id))
	return m
}

func diff(t *testing.T, got, want map[string]string) {
	t.Helper()
	keys := slices.Sorted(maps.Keys(got))
	for k := range want {
		if _, ok := got[k]; !ok {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		if got[k] != want[k] {
			t.Errorf("%s = %q, want %q", k, got[k], want[k])
		}
	}
}

// expect is the state after an applied update: before, with the changes of
// the mode's copies at instant at.
type expect struct {
	mode      bridge.StorageMode
	to        string // status without prefix
	at        time.Time
	loc       *time.Location
	txn       string
	paid      bool // the paid date is newly set
	completed bool
	changed   bool
	from      string // status before, for the transition row
	event     string
	meta      map[string]string
}

func (e expect) apply(before map[string]string) map[string]string {
	want := maps.Clone(before)
	gmt := e.at.UTC().Format("2006-01-02 15:04:05")
	local := e.at.In(e.loc).Format("2006-01-02 15:04:05")
	unix := strconv.FormatInt(e.at.Unix(), 10)
	addMeta := func(prefix string) {
		for k, v := range e.meta {
			want[prefix+k] = v
		}
		if old := want[prefix+woo.EventMetaKey]; old != "" {
			want[prefix+woo.EventMetaKey] = old + "|" + e.event
		} else {
			want[prefix+woo.EventMetaKey] = e.event
		}
		if e.changed {
			row := e.event + " " + e.from + " " + e.to
			if old := want[prefix+woo.TransitionMetaKey]; old != "" {
				row = old + "|" + row
			}
			want[prefix+woo.TransitionMetaKey] = row
		}
	}
	if e.mode != bridge.StoragePosts { // the HPOS copy exists in B, C and D
		want["hpos.status"] = "wc-" + e.to
		want["hpos.date_updated_gmt"] = gmt
		if e.paid {
			want["hpos.transaction_id"] = e.txn
			want["op.date_paid_gmt"] = gmt
		}
		if e.completed {
			want["op.date_completed_gmt"] = gmt
		}
		addMeta("hposmeta.")
	}
	if e.mode != bridge.StorageHPOS { // a full post exists in A, B and C
		want["post.post_status"] = "wc-" + e.to
		want["post.post_modified"] = local
		want["post.post_modified_gmt"] = gmt
		if e.paid {
			want["postmeta._transaction_id"] = e.txn
			want["postmeta._date_paid"] = unix
			want["postmeta._paid_date"] = local
		}
		if e.completed {
			want["postmeta._date_completed"] = unix
			want["postmeta._completed_date"] = local
		}
		addMeta("postmeta.")
	}
	n, _ := strconv.Atoi(before["post.comment_count"])
	want["post.comment_count"] = strconv.Itoa(n + 1)
	notes, _ := strconv.Atoi(before["notes"])
	want["notes"] = strconv.Itoa(notes + 1)
	if e.changed {
		want["stats.status"] = "wc-" + e.to
		if e.paid {
			want["stats.date_paid"] = local
		}
		if e.completed {
			want["stats.date_completed"] = local
		}
	}
	return want
}

func statusLabel(s string) string {
	return map[string]string{"pending": "Pending payment", "processing": "Processing", "completed": "Completed",
		"on-hold": "On hold", "failed": "Failed", "cancelled": "Cancelled"}[s]
}

// TestApplyOrderOutcomes runs every outcome in every mode and compares the
// rows of both copies, the note and the analytics row with what WooCommerce
// would hold, in a UTC site with prefix wp_ and a Berlin site with shop7_.
func TestApplyOrderOutcomes(t *testing.T) {
	outcomes := []struct {
		name       string
		items      []wootest.ItemSeed
		outcome    bridge.OrderOutcome
		paidStatus string
		to         string
		customer   bool
	}{
		{"paid-processing", physical, bridge.OutcomePaid, "", bridge.StatusProcessing, false},
		{"paid-completed-virtual-downloadable", digital, bridge.OutcomePaid, "", bridge.StatusCompleted, false},
		{"paid-completed-no-items", nil, bridge.OutcomePaid, "", bridge.StatusCompleted, false},
		{"paid-override-processing", digital, bridge.OutcomePaid, bridge.StatusProcessing, bridge.StatusProcessing, false},
		{"paid-override-completed", physical, bridge.OutcomePaid, bridge.StatusCompleted, bridge.StatusCompleted, true},
		{"on-hold", physical, bridge.OutcomeOnHold, "", bridge.StatusOnHold, true},
		{"failed", physical, bridge.OutcomeFailed, "", bridge.StatusFailed, false},
		{"cancelled", physical, bridge.OutcomeCancelled, "", bridge.StatusCancelled, false},
		{"note", physical, bridge.OutcomeNote, "", bridge.StatusPending, true},
	}
	sites := []struct {
		tz     string
		prefix string
	}{{"UTC", "wp_"}, {"Europe/Berlin", "shop7_"}}
	for _, site := range sites {
		for _, mode := range modes {
			t.Run("mode="+string(mode)+"/tz="+site.tz, func(t *testing.T) {
				f := newFixture(t, mode, site.prefix, wootest.WithTimezone(site.tz))
				// Other comments' meta, so that a note's id and the id of a
				// commentmeta row written after it differ.
				f.Exec(t, "INSERT INTO {p}commentmeta (comment_id, meta_key, meta_value) VALUES (0, '_other', ''), (0, '_other', ''), (0, '_other', '')")
				for i, oc := range outcomes {
					t.Run(oc.name, func(t *testing.T) {
						id := f.seed(t, wootest.OrderSeed{Items: oc.items, Total: "49.90"})
						before := state(t, f.Store, id)
						at := t0.Add(time.Duration(i) * time.Minute)
						f.clock.Set(at.Add(300 * time.Millisecond)) // T drops the fraction
						u := bridge.OrderUpdate{
							OrderID: id, Outcome: oc.outcome, EventID: "ev-" + oc.name, PaymentMethod: method,
							TransactionID: "tx-" + oc.name, Note: "StreamPay payment pay_1.", CustomerNote: oc.customer,
							PaidStatus: oc.paidStatus, Meta: map[string]string{"_wcbridge_payment_id": "pay_1"},
						}
						res, err := f.woo.ApplyOrder(context.Background(), u)
						if err != nil {
							t.Fatal(err)
						}
						changed := oc.to != bridge.StatusPending
						if res.Changed != changed || res.From != bridge.StatusPending || res.To != oc.to || res.Duplicate || !res.At.Equal(at) || res.NoteID == 0 {
							t.Fatalf("result = %+v, want changed=%v pending->%s at %s with a note", res, changed, oc.to, at)
						}
						want := expect{mode: mode, to: oc.to, at: at, loc: f.Loc, txn: u.TransactionID,
							paid: oc.outcome == bridge.OutcomePaid, completed: oc.to == bridge.StatusCompleted,
							changed: changed, from: bridge.StatusPending, event: u.EventID, meta: u.Meta}.apply(before)
						diff(t, state(t, f.Store, id), want)

						content := "StreamPay payment pay_1."
						if changed {
							content += " Order status changed from Pending payment to " + statusLabel(oc.to) + "."
						}
						note := f.Row(t, "SELECT * FROM {p}comments WHERE comment_ID = ?", res.NoteID)
						diff(t, note, map[string]string{
							"comment_ID": strconv.FormatInt(res.NoteID, 10), "comment_post_ID": strconv.FormatInt(id, 10),
							"comment_author": "WooCommerce", "comment_author_email": "woocommerce@shop.test",
							"comment_author_url": "", "comment_author_IP": "",
							"comment_date": at.In(f.Loc).Format("2006-01-02 15:04:05"), "comment_date_gmt": at.Format("2006-01-02 15:04:05"),
							"comment_content": content, "comment_karma": "0", "comment_approved": "1", "comment_agent": "WooCommerce",
							"comment_type": "order_note", "comment_parent": "0", "user_id": "0",
						})
						wantCustomer := 0
						if oc.customer {
							wantCustomer = 1
						}
						if got := f.Count(t, "commentmeta", "comment_id = ? AND meta_key = 'is_customer_note' AND meta_value = '1'", res.NoteID); got != wantCustomer {
							t.Errorf("is_customer_note rows = %d, want %d", got, wantCustomer)
						}
						if mode == bridge.StoragePostsSync || mode == bridge.StorageHPOSSync {
							// Both copies equal, same instant: sync has nothing to revert.
							hpos := f.Row(t, "SELECT status, date_updated_gmt FROM {p}wc_orders WHERE id = ?", id)
							post := f.Row(t, "SELECT post_status, post_modified_gmt FROM {p}posts WHERE ID = ?", id)
							if hpos["status"] != post["post_status"] || hpos["date_updated_gmt"] != post["post_modified_gmt"] {
								t.Errorf("copies differ: hpos %v, post %v", hpos, post)
							}
						}
						if site.tz == "Europe/Berlin" && mode != bridge.StorageHPOS {
							post := f.Row(t, "SELECT post_modified, post_modified_gmt FROM {p}posts WHERE ID = ?", id)
							if post["post_modified"] != at.Add(time.Hour).Format("2006-01-02 15:04:05") || post["post_modified_gmt"] != at.Format("2006-01-02 15:04:05") {
								t.Errorf("Berlin post times = %v, want local one hour ahead of gmt %s", post, at)
							}
						}
					})
				}
			})
		}
	}
}

// TestApplyOrderModeAKeepsStaleHPOS: a store that switched back to posts
// keeps its HPOS rows; they are stale by definition and must not be touched.
func TestApplyOrderModeAKeepsStaleHPOS(t *testing.T) {
	f := newFixture(t, bridge.StoragePostsSync, "wp_")
	id := f.seed(t, wootest.OrderSeed{Items: physical})
	f.Exec(t, "UPDATE {p}options SET option_value = 'no' WHERE option_name = 'woocommerce_custom_orders_table_data_sync_enabled'")
	if m, err := f.woo.StorageMode(context.Background()); err != nil || m != bridge.StoragePosts {
		t.Fatalf("mode = %q, %v; want posts", m, err)
	}
	before := state(t, f.Store, id)
	if _, err := f.woo.ApplyOrder(context.Background(), paidUpdate(id, "ev-1")); err != nil {
		t.Fatal(err)
	}
	after := state(t, f.Store, id)
	for k, v := range before {
		if (strings.HasPrefix(k, "hpos") || strings.HasPrefix(k, "op.")) && after[k] != v {
			t.Errorf("%s changed in posts mode: %q -> %q", k, v, after[k])
		}
	}
	if after["post.post_status"] != "wc-processing" {
		t.Errorf("post_status = %q, want wc-processing", after["post.post_status"])
	}
}

func paidUpdate(id int64, event string) bridge.OrderUpdate {
	return bridge.OrderUpdate{OrderID: id, Outcome: bridge.OutcomePaid, EventID: event, PaymentMethod: method,
		TransactionID: "tx-" + event, Note: "Paid."}
}

// TestApplyOrderInstantAfterModified: T is strictly later than the modified
// time of both copies, even when one lies in the future.
func TestApplyOrderInstantAfterModified(t *testing.T) {
	for _, mode := range modes {
		t.Run("mode="+string(mode), func(t *testing.T) {
			f := newFixture(t, mode, "wp_")
			future := t0.Add(time.Hour)
			id := f.seed(t, wootest.OrderSeed{Items: physical, Modified: future})
			want := future.Add(time.Second)
			if mode == bridge.StoragePostsSync || mode == bridge.StorageHPOSSync {
				// The other copy is newer still.
				later := t0.Add(2 * time.Hour)
				if mode == bridge.StorageHPOSSync {
					f.Exec(t, "UPDATE {p}posts SET post_modified_gmt = ? WHERE ID = ?", later.Format("2006-01-02 15:04:05"), id)
				} else {
					f.Exec(t, "UPDATE {p}wc_orders SET date_updated_gmt = ? WHERE id = ?", later.Format("2006-01-02 15:04:05"), id)
				}
				want = later.Add(time.Second)
			}
			res, err := f.woo.ApplyOrder(context.Background(), paidUpdate(id, "ev-1"))
			if err != nil {
				t.Fatal(err)
			}
			if !res.At.Equal(want) {
				t.Errorf("At = %s, want %s", res.At, want)
			}
			s := want.Format("2006-01-02 15:04:05")
			if mode != bridge.StoragePosts {
				if got := f.Value(t, "SELECT date_updated_gmt FROM {p}wc_orders WHERE id = ?", id); got != s {
					t.Errorf("date_updated_gmt = %s, want %s", got, s)
				}
			}
			if mode != bridge.StorageHPOS {
				if got := f.Value(t, "SELECT post_modified_gmt FROM {p}posts WHERE ID = ?", id); got != s {
					t.Errorf("post_modified_gmt = %s, want %s", got, s)
				}
			}
		})
	}
}

// TestApplyOrderPaidDateOnce: an order paid, then cancelled in wp-admin, then
// paid again keeps its first paid date.
func TestApplyOrderPaidDateOnce(t *testing.T) {
	for _, mode := range modes {
		t.Run("mode="+string(mode), func(t *testing.T) {
			f := newFixture(t, mode, "wp_")
			id := f.seed(t, wootest.OrderSeed{Items: physical})
			first, err := f.woo.ApplyOrder(context.Background(), paidUpdate(id, "ev-1"))
			if err != nil {
				t.Fatal(err)
			}
			// wp-admin cancels the order (both copies, one second later).
			later := first.At.Add(time.Second).Format("2006-01-02 15:04:05")
			f.Exec(t, "UPDATE {p}posts SET post_status = 'wc-cancelled', post_modified_gmt = ? WHERE ID = ? AND post_type = 'shop_order'", later, id)
			f.Exec(t, "UPDATE {p}wc_orders SET status = 'wc-cancelled', date_updated_gmt = ? WHERE id = ?", later, id)
			f.clock.Set(t0.Add(time.Hour))
			second, err := f.woo.ApplyOrder(context.Background(), paidUpdate(id, "ev-2"))
			if err != nil {
				t.Fatal(err)
			}
			if !second.Changed || second.From != bridge.StatusCancelled || second.To != bridge.StatusProcessing {
				t.Fatalf("second = %+v, want cancelled->processing", second)
			}
			o, err := f.woo.Order(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if o.PaidAt == nil || !o.PaidAt.Equal(first.At) {
				t.Errorf("PaidAt = %v, want first payment %s", o.PaidAt, first.At)
			}
			firstUnix := strconv.FormatInt(first.At.Unix(), 10)
			if mode != bridge.StorageHPOS {
				if got := f.PostMeta(t, id, "_date_paid"); !slices.Equal(got, []string{firstUnix}) {
					t.Errorf("_date_paid = %v, want [%s]", got, firstUnix)
				}
			}
			if mode != bridge.StoragePosts {
				if got := f.Value(t, "SELECT date_paid_gmt FROM {p}wc_order_operational_data WHERE order_id = ?", id); got != first.At.Format("2006-01-02 15:04:05") {
					t.Errorf("date_paid_gmt = %s, want %s", got, first.At)
				}
			}
			if got := f.Value(t, "SELECT date_paid FROM {p}wc_order_stats WHERE order_id = ?", id); got != first.At.Format("2006-01-02 15:04:05") {
				t.Errorf("stats date_paid = %s, want %s", got, first.At)
			}
		})
	}
}

// TestApplyOrderIdempotent: the same EventID twice writes once.
func TestApplyOrderIdempotent(t *testing.T) {
	for _, mode := range modes {
		t.Run("mode="+string(mode), func(t *testing.T) {
			f := newFixture(t, mode, "wp_")
			for _, u := range []bridge.OrderUpdate{
				paidUpdate(0, "ev-paid"),
				{Outcome: bridge.OutcomeOnHold, EventID: "ev-hold", PaymentMethod: method, Note: "Underpaid."},
				{Outcome: bridge.OutcomeNote, EventID: "ev-note", PaymentMethod: method, Note: "Seen."},
			} {
				t.Run(string(u.Outcome), func(t *testing.T) {
					u.OrderID = f.seed(t, wootest.OrderSeed{Items: physical})
					if _, err := f.woo.ApplyOrder(context.Background(), u); err != nil {
						t.Fatal(err)
					}
					after := state(t, f.Store, u.OrderID)
					f.clock.Set(t0.Add(time.Hour))
					res, err := f.woo.ApplyOrder(context.Background(), u)
					if err != nil {
						t.Fatal(err)
					}
					if !res.Duplicate || res.Changed || res.NoteID != 0 {
						t.Errorf("second = %+v, want a duplicate", res)
					}
					// A duplicate still tells the transition the event made.
					wantTo := map[bridge.OrderOutcome]string{bridge.OutcomePaid: bridge.StatusProcessing, bridge.OutcomeOnHold: bridge.StatusOnHold, bridge.OutcomeNote: bridge.StatusPending}[u.Outcome]
					if res.From != bridge.StatusPending || res.To != wantTo {
						t.Errorf("duplicate reports %s -> %s, want pending -> %s", res.From, res.To, wantTo)
					}
					diff(t, state(t, f.Store, u.OrderID), after)
					if after["notes"] != "1" {
						t.Errorf("notes = %s, want 1", after["notes"])
					}
					f.clock.Set(t0)
				})
			}
		})
	}
}

// TestApplyOrderReplaceNote: a note-only update that may replace its note
// writes one note; the same event again with other text replaces it, with
// the same text changes nothing.
func TestApplyOrderReplaceNote(t *testing.T) {
	for _, mode := range modes {
		t.Run("mode="+string(mode), func(t *testing.T) {
			f := newFixture(t, mode, "wp_")
			id := f.seed(t, wootest.OrderSeed{Items: physical})
			u := bridge.OrderUpdate{OrderID: id, Outcome: bridge.OutcomeNote, EventID: "wcbridge:7:second", PaymentMethod: method,
				Note: "A second payment of 9.99 EUR.", ReplaceNote: true}
			first, err := f.woo.ApplyOrder(context.Background(), u)
			if err != nil || first.NoteID == 0 || first.Duplicate {
				t.Fatalf("first = %+v, %v", first, err)
			}
			u.Note = "A second payment of 18.981 EUR."
			second, err := f.woo.ApplyOrder(context.Background(), u)
			if err != nil || !second.Duplicate || second.NoteID != first.NoteID || second.Changed {
				t.Fatalf("second = %+v, %v; want a duplicate replacing note %d", second, err, first.NoteID)
			}
			again, err := f.woo.ApplyOrder(context.Background(), u)
			if err != nil || !again.Duplicate || again.NoteID != 0 {
				t.Fatalf("same text again = %+v, %v; want a duplicate that writes nothing", again, err)
			}
			notes := f.Rows(t, "SELECT comment_content FROM wp_comments WHERE comment_post_ID = ? AND comment_type = 'order_note'", id)
			if len(notes) != 1 || notes[0]["comment_content"] != "A second payment of 18.981 EUR." {
				t.Fatalf("notes = %v", notes)
			}
			// Replacing is for note-only updates.
			u.Outcome, u.EventID = bridge.OutcomePaid, "x"
			if _, err := f.woo.ApplyOrder(context.Background(), u); bridge.ErrorCode(err) != bridge.EINVALID {
				t.Fatalf("a paid update that replaces its note: %v", err)
			}
		})
	}
}

// TestApplyOrderNeverBackwards: paid and refunded orders never move to
// on-hold, failed or cancelled, and a paid outcome on a paid order writes
// nothing.
func TestApplyOrderNeverBackwards(t *testing.T) {
	for _, mode := range modes {
		t.Run("mode="+string(mode), func(t *testing.T) {
			f := newFixture(t, mode, "wp_")
			for _, from := range []string{bridge.StatusProcessing, bridge.StatusCompleted, bridge.StatusRefunded} {
				for _, oc := range []bridge.OrderOutcome{bridge.OutcomeOnHold, bridge.OutcomeFailed, bridge.OutcomeCancelled, bridge.OutcomePaid} {
					t.Run(from+"-to-"+string(oc), func(t *testing.T) {
						id := f.seed(t, wootest.OrderSeed{Items: physical, Status: from})
						before := state(t, f.Store, id)
						res, err := f.woo.ApplyOrder(context.Background(), bridge.OrderUpdate{
							OrderID: id, Outcome: oc, EventID: "ev", PaymentMethod: method, Note: "Late callback.", TransactionID: "tx"})
						switch {
						case oc == bridge.OutcomePaid && from != bridge.StatusRefunded:
							if err != nil || res.Changed || res.Duplicate || res.From != from || res.To != from || res.NoteID != 0 {
								t.Errorf("ApplyOrder = %+v, %v; want unchanged %s", res, err, from)
							}
						default:
							if !errors.Is(err, bridge.ErrOrderStatus) {
								t.Errorf("err = %v, want ErrOrderStatus", err)
							}
							if err != nil && !strings.Contains(err.Error(), from) {
								t.Errorf("err %q does not name the status %s", err, from)
							}
						}
						diff(t, state(t, f.Store, id), before)
					})
				}
			}
		})
	}
}

// TestApplyOrderSuperseded: an update whose SupersededBy names an event
// the order already has (a later status of the same payment, applied by a
// worker that read a newer report) writes nothing, not even a note, and
// says so with ErrSuperseded; the event itself already applied is still a
// duplicate; other payments' events do not count.
func TestApplyOrderSuperseded(t *testing.T) {
	for _, mode := range modes {
		t.Run("mode="+string(mode), func(t *testing.T) {
			f := newFixture(t, mode, "wp_")
			id := f.seed(t, wootest.OrderSeed{Items: physical})
			if _, err := f.woo.ApplyOrder(context.Background(), paidUpdate(id, "wcbridge:7:paid")); err != nil {
				t.Fatal(err)
			}
			before := state(t, f.Store, id)
			later := []string{"wcbridge:7:paid", "wcbridge:7:overpaid", "wcbridge:7:cancelled"}
			for _, oc := range []bridge.OrderOutcome{bridge.OutcomeNote, bridge.OutcomeCancelled} {
				_, err := f.woo.ApplyOrder(context.Background(), bridge.OrderUpdate{OrderID: id, Outcome: oc, EventID: "wcbridge:7:expired",
					SupersededBy: later, PaymentMethod: method, Note: "The StreamPay payment sp1 expired without payment."})
				if !errors.Is(err, bridge.ErrSuperseded) || !strings.Contains(fmt.Sprint(err), "wcbridge:7:paid") {
					t.Errorf("%s after paid: err = %v, want ErrSuperseded naming wcbridge:7:paid", oc, err)
				}
				diff(t, state(t, f.Store, id), before)
			}
			// The paid event again is a duplicate, whatever it lists.
			u := paidUpdate(id, "wcbridge:7:paid")
			u.SupersededBy = []string{"wcbridge:7:overpaid"}
			if res, err := f.woo.ApplyOrder(context.Background(), u); err != nil || !res.Duplicate {
				t.Errorf("paid again = %+v, %v; want a duplicate", res, err)
			}
			// Another payment's later events are not this one's.
			res, err := f.woo.ApplyOrder(context.Background(), bridge.OrderUpdate{OrderID: id, Outcome: bridge.OutcomeNote, EventID: "wcbridge:8:expired",
				SupersededBy: []string{"wcbridge:8:paid", "wcbridge:8:overpaid"}, PaymentMethod: method, Note: "Payment sp2 expired."})
			if err != nil || res.NoteID == 0 {
				t.Errorf("another payment's expiry = %+v, %v; want its note written", res, err)
			}
		})
	}
}

// TestApplyOrderRefusals: wrong order type, wrong payment method, missing
// order, trashed order and foreign meta keys write nothing.
func TestApplyOrderRefusals(t *testing.T) {
	for _, mode := range modes {
		t.Run("mode="+string(mode), func(t *testing.T) {
			f := newFixture(t, mode, "wp_")
			order := f.seed(t, wootest.OrderSeed{Items: physical})
			refund := f.seed(t, wootest.OrderSeed{Type: "shop_order_refund", Total: "-5.00"})
			trashed := f.seed(t, wootest.OrderSeed{Status: "trash"})
			other := f.seed(t, wootest.OrderSeed{PaymentMethod: "bacs"})
			tests := []struct {
				name string
				u    bridge.OrderUpdate
				want error
			}{
				{"refund", paidUpdate(refund, "ev"), bridge.ErrOrderType},
				{"payment-method", paidUpdate(other, "ev"), bridge.ErrPaymentMethod},
				{"not-found", paidUpdate(order+1000, "ev"), bridge.ErrOrderNotFound},
				{"trash", bridge.OrderUpdate{OrderID: trashed, Outcome: bridge.OutcomeNote, EventID: "ev", PaymentMethod: method, Note: "x"}, bridge.ErrOrderStatus},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					var before map[string]string
					if tt.name != "not-found" {
						before = state(t, f.Store, tt.u.OrderID)
					}
					_, err := f.woo.ApplyOrder(context.Background(), tt.u)
					if !errors.Is(err, tt.want) {
						t.Fatalf("err = %v, want %v", err, tt.want)
					}
					if before != nil {
						diff(t, state(t, f.Store, tt.u.OrderID), before)
					}
				})
			}
			t.Run("invalid-update", func(t *testing.T) {
				before := state(t, f.Store, order)
				for _, u := range []bridge.OrderUpdate{
					{OrderID: order, Outcome: bridge.OutcomePaid, EventID: "ev", PaymentMethod: method, Note: "x", Meta: map[string]string{"_transaction_id": "x"}},
					{OrderID: order, Outcome: bridge.OutcomePaid, EventID: "ev", PaymentMethod: method, Note: "x", Meta: map[string]string{woo.EventMetaKey: "x"}},
					{OrderID: order, Outcome: bridge.OutcomePaid, PaymentMethod: method, Note: "x"},
					{OrderID: order, Outcome: bridge.OutcomePaid, EventID: "ev", PaymentMethod: method},
					{OrderID: order, Outcome: "refunded", EventID: "ev", PaymentMethod: method, Note: "x"},
					{OrderID: order, Outcome: bridge.OutcomePaid, EventID: "ev", PaymentMethod: method, Note: "x", PaidStatus: "on-hold"},
				} {
					if _, err := f.woo.ApplyOrder(context.Background(), u); bridge.ErrorCode(err) != bridge.EINVALID {
						t.Errorf("ApplyOrder(%+v) = %v, want an invalid error", u, err)
					}
				}
				diff(t, state(t, f.Store, order), before)
			})
		})
	}
}

// TestApplyOrderRace: appliers racing on one order with different events for
// the same paid outcome make exactly one transition and one note.
func TestApplyOrderRace(t *testing.T) {
	wootest.RequireReal(t, "row locks decide the race")
	for _, mode := range modes {
		t.Run("mode="+string(mode), func(t *testing.T) {
			f := newFixture(t, mode, "wp_")
			for round := range 5 {
				id := f.seed(t, wootest.OrderSeed{Items: physical})
				const n = 4
				var (
					wg      sync.WaitGroup
					mu      sync.Mutex
					changed int
				)
				start := make(chan struct{})
				for i := range n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						res, err := f.woo.ApplyOrder(context.Background(), paidUpdate(id, "ev-"+strconv.Itoa(round)+"-"+strconv.Itoa(i)))
						if err != nil {
							t.Error(err)
							return
						}
						if res.Changed {
							mu.Lock()
							changed++
							mu.Unlock()
						}
					}()
				}
				close(start)
				wg.Wait()
				if changed != 1 {
					t.Errorf("round %d: %d appliers changed the status, want 1", round, changed)
				}
				if got := f.Count(t, "comments", "comment_post_ID = ?", id); got != 1 {
					t.Errorf("round %d: %d notes, want 1", round, got)
				}
				events := f.PostMeta(t, id, woo.EventMetaKey)
				if mode == bridge.StorageHPOS || mode == bridge.StorageHPOSSync {
					events = f.OrderMeta(t, id, woo.EventMetaKey)
				}
				if len(events) != 1 {
					t.Errorf("round %d: events %v, want one", round, events)
				}
			}
		})
	}
}

// TestApplyOrderOnHoldAfterTimerCancelled: money that arrives for an order
// WooCommerce's unpaid-order timer cancelled puts it on hold for the shop to
// look at; from on-hold the usual rules apply.
func TestApplyOrderOnHoldAfterTimerCancelled(t *testing.T) {
	for _, mode := range modes {
		t.Run("mode="+string(mode), func(t *testing.T) {
			f := newFixture(t, mode, "wp_")
			id := f.seed(t, wootest.OrderSeed{Items: physical, Status: bridge.StatusCancelled})
			res, err := f.woo.ApplyOrder(context.Background(), bridge.OrderUpdate{
				OrderID: id, Outcome: bridge.OutcomeOnHold, EventID: "ev-late", PaymentMethod: method, Note: "Paid after cancellation."})
			if err != nil || !res.Changed || res.From != bridge.StatusCancelled || res.To != bridge.StatusOnHold {
				t.Fatalf("ApplyOrder = %+v, %v; want cancelled -> on-hold", res, err)
			}
			o, err := f.woo.Order(context.Background(), id)
			if err != nil || o.Status != bridge.StatusOnHold {
				t.Fatalf("order status %q (%v), want on-hold", o.Status, err)
			}
			_, err = f.woo.ApplyOrder(context.Background(), bridge.OrderUpdate{
				OrderID: id, Outcome: bridge.OutcomeFailed, EventID: "ev-fail", PaymentMethod: method, Note: "x"})
			if err != nil {
				t.Fatalf("on-hold -> failed: %v", err)
			}
		})
	}
}

// TestApplyOrderPaymentMetaOneRow: the payment's figures are one meta row
// (bridge.MetaPayment). With the plugin's checkout meta in place, a paid
// outcome adds the event, the transition and that row to each copy, nothing
// else; after an underpayment, the paid outcome rewrites the row in place.
func TestApplyOrderPaymentMetaOneRow(t *testing.T) {
	type row struct{ key, value string }
	figures := func(st bridge.PaymentStatus, received string) string {
		b, err := json.Marshal(bridge.PaymentMeta{Status: st, Amount: "40", Currency: "USD", Received: received, TxRef: "0xabc"})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for _, mode := range modes {
		t.Run("mode="+string(mode), func(t *testing.T) {
			f := newFixture(t, mode, "wp_")
			// The copies of an order in this mode: HPOS in B, C and D, a
			// full post in A, B and C.
			var tables [][2]string
			if mode != bridge.StoragePosts {
				tables = append(tables, [2]string{"wc_orders_meta", "order_id"})
			}
			if mode != bridge.StorageHPOS {
				tables = append(tables, [2]string{"postmeta", "post_id"})
			}
			// rows reads each copy's wcbridge meta rows by id (a post's
			// paid date and transaction id are meta rows too).
			rows := func(id int64) map[string]map[string]row {
				out := map[string]map[string]row{}
				for _, tb := range tables {
					out[tb[0]] = map[string]row{}
					for _, r := range f.Rows(t, "SELECT * FROM {p}"+tb[0]+" WHERE "+tb[1]+" = ?", id) {
						if strings.HasPrefix(r["meta_key"], woo.MetaPrefix) {
							out[tb[0]][r["id"]+r["meta_id"]] = row{r["meta_key"], r["meta_value"]} // one of the two id columns
						}
					}
				}
				return out
			}
			// added lists the rows of after that are not in before, and
			// the rows of both whose value changed, sorted by key.
			added := func(before, after map[string]map[string]row) (newRows, changed map[string][]row) {
				newRows, changed = map[string][]row{}, map[string][]row{}
				for tb, rs := range after {
					for rid, r := range rs {
						b, ok := before[tb][rid]
						switch {
						case !ok:
							newRows[tb] = append(newRows[tb], r)
						case b != r:
							changed[tb] = append(changed[tb], r)
						}
					}
					byKey := func(a, b row) int { return strings.Compare(a.key, b.key) }
					slices.SortFunc(newRows[tb], byKey)
					slices.SortFunc(changed[tb], byKey)
				}
				return newRows, changed
			}
			order := func() int64 {
				id := f.seed(t, wootest.OrderSeed{Items: physical, Total: "40.00", Currency: "USD"})
				for _, tb := range tables { // what the plugin saves at checkout
					for _, kv := range [][2]string{{"_wcbridge_gateway", "streampay"}, {bridge.MetaGatewayPaymentID, "pay_1"}} {
						f.Exec(t, "INSERT INTO {p}"+tb[0]+" ("+tb[1]+", meta_key, meta_value) VALUES (?, ?, ?)", id, kv[0], kv[1])
					}
				}
				return id
			}
			apply := func(id int64, o bridge.OrderOutcome, event, figures string) {
				t.Helper()
				_, err := f.woo.ApplyOrder(context.Background(), bridge.OrderUpdate{OrderID: id, Outcome: o, EventID: event, PaymentMethod: method,
					TransactionID: "0xabc", Note: "StreamPay payment pay_1.",
					Meta: map[string]string{"_wcbridge_gateway": "streampay", bridge.MetaGatewayPaymentID: "pay_1", bridge.MetaPayment: figures}})
				if err != nil {
					t.Fatal(err)
				}
			}
			check := func(what string, got, want map[string][]row) {
				t.Helper()
				for _, tb := range tables {
					if !slices.Equal(got[tb[0]], want[tb[0]]) {
						t.Errorf("%s, %s: %v, want %v", what, tb[0], got[tb[0]], want[tb[0]])
					}
				}
			}
			each := func(rs ...row) map[string][]row {
				m := map[string][]row{}
				for _, tb := range tables {
					m[tb[0]] = rs
				}
				return m
			}

			// Paid at once.
			id := order()
			before := rows(id)
			apply(id, bridge.OutcomePaid, "ev-paid", figures(bridge.PaymentPaid, "40"))
			newRows, changed := added(before, rows(id))
			check("paid: new rows", newRows, each(row{woo.EventMetaKey, "ev-paid"},
				row{bridge.MetaPayment, figures(bridge.PaymentPaid, "40")}, row{woo.TransitionMetaKey, "ev-paid pending processing"}))
			check("paid: rows changed", changed, each())

			// Underpaid, then paid in full.
			id = order()
			apply(id, bridge.OutcomeOnHold, "ev-under", figures(bridge.PaymentUnderpaid, "30"))
			before = rows(id)
			apply(id, bridge.OutcomePaid, "ev-paid", figures(bridge.PaymentPaid, "40"))
			newRows, changed = added(before, rows(id))
			check("paid after underpaid: new rows", newRows, each(row{woo.EventMetaKey, "ev-paid"}, row{woo.TransitionMetaKey, "ev-paid on-hold processing"}))
			check("paid after underpaid: rows changed", changed, each(row{bridge.MetaPayment, figures(bridge.PaymentPaid, "40")}))
			for _, tb := range tables {
				if n := f.Count(t, tb[0], tb[1]+" = ? AND meta_key = ?", id, bridge.MetaPayment); n != 1 {
					t.Errorf("%s: %d %s rows, want 1", tb[0], n, bridge.MetaPayment)
				}
			}
		})
	}
}

// TestApplyOrderTxHoldsOneConnection: inside a caller's transaction, reads
// and writes of orders take no second connection, even when the storage
// mode is due to be detected again: with one connection in the pool, held
// by the transaction, they complete (a second one would wait forever).
func TestApplyOrderTxHoldsOneConnection(t *testing.T) {
	for _, mode := range modes {
		t.Run("mode="+string(mode), func(t *testing.T) {
			f := newFixture(t, mode, "wp_")
			id := f.seed(t, wootest.OrderSeed{Items: physical})
			db := f.Store.DB.DB
			s, err := woo.New(db, "wp_", woo.Options{ModeTTL: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a guard, not a measure
			defer cancel()
			if got, err := s.CurrentMode(ctx); err != nil || got != mode {
				t.Fatalf("current mode = %s, %v; want %s", got, err, mode)
			}
			db.SetMaxOpenConns(1)
			time.Sleep(5 * time.Millisecond) // the detection is now older than ModeTTL
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			if o, err := s.OrderTx(ctx, tx, id); err != nil || o.Status != bridge.StatusPending {
				t.Fatalf("order in tx = %+v, %v; want it pending", o, err)
			}
			res, err := s.ApplyOrderTx(ctx, tx, paidUpdate(id, "wcbridge:3:paid"), nil)
			if err != nil || !res.Changed || res.To != bridge.StatusProcessing {
				t.Fatalf("apply in tx = %+v, %v; want changed to processing", res, err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			if o, err := s.Order(ctx, id); err != nil || o.Status != bridge.StatusProcessing {
				t.Fatalf("order after commit = %+v, %v; want processing", o, err)
			}
		})
	}
}
