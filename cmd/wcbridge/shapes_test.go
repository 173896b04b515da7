package main

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wcbridge/wcbridge/bridge/mysqlkit"
)

// The statement shapes (docs/BENCHMARKS.md §1): what the storm's ratio is
// made of, measured on the database alone. The rows one paid callback
// writes (the callback's row, the order and its copies, three meta rows,
// the note, the notification, the payment; the delivery's mark) are
// written by a bare loop at concurrency C, with no HTTP and no sidecar, in
// three shapes, beside the floor of the same run:
//
//   - each: one transaction per order, the statements the sidecar sends for
//     one report (copied from its statement log; a snapshot, not its code);
//   - grouped: the same statements for 8 orders in one transaction, as the
//     sidecar shares a transaction among the reports waiting together;
//   - rows: 8 orders in one transaction, each statement writing the rows of
//     all 8 (multi-row INSERTs, UPDATEs over the 8 ids);
//   - inserts: grouped, but for the meta rows and the notifications, which
//     go in at the group's end by one multi-row INSERT each (the part of
//     rows that needs no result back: a first step towards it).
//
// Each shape reports its orders per second, its ratio to the floor and the
// database server's CPU per order (when it runs on this machine).
//
//	WCBRIDGE_TEST_MYSQL_DSN='root@tcp(127.0.0.1:3306)/' go test -run '^$' -bench 'StatementShapes' -benchtime 400x ./cmd/wcbridge/
func BenchmarkStatementShapes(b *testing.B) {
	requireBenchDB(b)
	for _, c := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("c=%d", c), func(b *testing.B) {
			if b.N == 1 {
				return // the testing package's probe run; the shapes need -benchtime Nx
			}
			b.StopTimer()
			h := newHarness(b)
			ctx := context.Background()
			db, err := openDB(ctx, h.woo.DSN, c+2)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			pid := dbServerPID(ctx, db, h.woo.DSN)
			floor := runShape(b, h, db, pid, c, "floor", 1, func(ctx context.Context, tx *sql.Tx, js []pendingPayment) error {
				return floorWrites(ctx, tx, js[0])
			})
			b.ReportMetric(floor.perSec, "floor_orders/s")
			if floor.dbCPU >= 0 {
				b.ReportMetric(floor.dbCPU, "floor_db_cpu_ms/order")
			}
			for _, s := range []struct {
				name  string
				group int
				fn    func(context.Context, *sql.Tx, []pendingPayment) error
			}{
				{"each", 1, eachWrites},
				{"grouped", 8, eachWrites},
				{"rows", 8, rowsWrites},
				{"inserts", 8, insertsWrites},
			} {
				r := runShape(b, h, db, pid, c, s.name, s.group, s.fn)
				b.ReportMetric(r.perSec, s.name+"_orders/s")
				b.ReportMetric(r.perSec/floor.perSec, s.name+"_ratio")
				if r.dbCPU >= 0 {
					b.ReportMetric(r.dbCPU, s.name+"_db_cpu_ms/order")
				}
			}
		})
	}
}

type shapeResult struct {
	perSec float64
	dbCPU  float64 // ms per order; -1: the server is not on this machine
}

// runShape makes b.N pending orders paid by fn, group orders per
// transaction on conc connections, and checks afterwards that every order
// is processing (and, but for the floor, every notification delivered and
// every callback applied).
func runShape(b *testing.B, h *harness, db *sql.DB, pid, conc int, name string, group int, fn func(context.Context, *sql.Tx, []pendingPayment) error) shapeResult {
	b.Helper()
	ctx := context.Background()
	jobs := pendingPayments(b, h, "shape-"+name, b.N)
	groups := (len(jobs) + group - 1) / group
	cpu0 := cpuTime(pid)
	start := time.Now()
	concurrently(b, groups, min(conc, groups), func(i int) error {
		js := jobs[i*group : min((i+1)*group, len(jobs))]
		return mysqlkit.Retry(ctx, 5, func() error {
			return commitTx(ctx, db, func(tx *sql.Tx) error { return fn(ctx, tx, js) })
		})
	})
	all := time.Since(start)
	res := shapeResult{perSec: float64(len(jobs)) / all.Seconds(), dbCPU: perOp(pid, cpuTime(pid)-cpu0, len(jobs))}

	ids := make([]string, len(jobs))
	for i, j := range jobs {
		ids[i] = strconv.FormatInt(j.orderID, 10)
	}
	in := strings.Join(ids, ",")
	checks := []string{"SELECT COUNT(*) FROM wp_wc_orders WHERE status = 'wc-processing' AND id IN (" + in + ")"}
	if name != "floor" {
		checks = append(checks,
			"SELECT COUNT(*) FROM wp_wcbridge_outbox WHERE delivered_at IS NOT NULL AND order_id IN ("+in+")",
			"SELECT COUNT(*) FROM wp_wcbridge_callbacks WHERE applied_at IS NOT NULL AND payment_key LIKE 'shape-"+name+"-%'",
			"SELECT COUNT(*) FROM wp_wc_orders_meta WHERE meta_key = '_wcbridge_transition' AND order_id IN ("+in+")")
	}
	for _, q := range checks {
		var n int
		if err := db.QueryRowContext(ctx, q).Scan(&n); err != nil {
			b.Fatal(err)
		}
		if n != len(jobs) {
			b.Fatalf("%s: %d of %d orders written: %s", name, n, len(jobs), q)
		}
	}
	return res
}

const (
	shapeLease = "shapes/0123456789abcdef"
	shapeTx    = "7Y3jJuuq5L2gc5OxGVWQJGNRZp3fNzvnIfkhuos7BuiK"
	shapeNote  = "Payment of 25 USD received via StreamPay (payment %s, transaction " + shapeTx + "). Order status changed from Pending payment to Processing."
	shapeMeta  = `{"status":"paid","amount":"25","currency":"USD","received":"25","tx_ref":"` + shapeTx + `"}`
)

func shapeBody(j pendingPayment) string {
	return `{"payment_id":"` + j.gatewayID + `","amount":"12.5","amount_usd":"25","received_amount":"12.5","received_amount_usd":"25","current_datetime":"2026-12-04T02:19:33Z","signature":"55f34239088f67b3a98a5177140c9f74fe42e2248af3b83d645696c74f456d00"}`
}

func shapePayload(j pendingPayment) string {
	return fmt.Sprintf(`{"event_id":"wcbridge:%[1]d:paid","order_id":%[2]d,"outcome":"paid","from_status":"pending","to_status":"processing","transaction_id":"%[3]s","occurred_at":"2026-12-04T02:19:33Z","note_id":1,"payment":{"id":%[1]d,"gateway":"streampay","gateway_payment_id":"%[4]s","status":"paid","amount":"25","currency":"USD","received":"25","shortfall":"0","excess":"0","gateway_amount":"25","gateway_received":"25","gateway_currency":"USD","tx_ref":"%[3]s","pay_url":"http://127.0.0.1:1/pay/%[4]s","expires_at":"2026-12-04T02:29:33Z","created_at":"2026-12-04T02:19:33.649995Z"}}`,
		j.paymentID, j.orderID, shapeTx, j.gatewayID)
}

func shapeEvent(j pendingPayment) string { return fmt.Sprintf("wcbridge:%d:paid", j.paymentID) }

// The statements below follow the sidecar's statement log for one paid
// StreamPay callback in HPOS mode.
const (
	shapeCallbackInsert = "INSERT INTO wp_wcbridge_callbacks (gateway, received_at, content_type, body, body_hash, verified, reason, payment_key, attempts, next_attempt_at, lease_owner, lease_until) VALUES "
	shapeCallbackRow    = "('streampay', UTC_TIMESTAMP(6), 'application/json', ?, SHA2(?, 256), 1, '', ?, 0, UTC_TIMESTAMP(6), ?, DATE_ADD(UTC_TIMESTAMP(6), INTERVAL 15 SECOND))"
	shapePaymentLock    = "SELECT id, order_id, gateway, gateway_id, reference, status, amount, currency, received, received_currency, gateway_amount, gateway_currency, gateway_received, gateway_received_currency, unit_scale, tx_ref, pay_url, expires_at, created_at, updated_at, applied_status, next_check_at, checks, failures, last_error, paid_status, watch FROM wp_wcbridge_payments WHERE gateway = 'streampay' AND gateway_id IN (%s) FOR UPDATE"
	shapeOrderLock      = "SELECT o.id, COALESCE(o.type, ''), COALESCE(o.status, ''), COALESCE(o.payment_method, ''), o.date_updated_gmt, op.id, op.date_paid_gmt FROM wp_wc_orders o LEFT JOIN wp_wc_order_operational_data op ON op.order_id = o.id WHERE o.id IN (%[1]s) FOR UPDATE;\n" +
		"SELECT id, meta_key, COALESCE(meta_value, '') FROM wp_wc_orders_meta WHERE order_id IN (%[1]s) AND ((meta_key = '_wcbridge_event' AND meta_value IN (%[2]s)) OR meta_key IN ('_wcbridge_gateway', '_wcbridge_payment', '_wcbridge_payment_id'))"
	shapeOrderUpdate = "UPDATE wp_wc_orders o LEFT JOIN wp_wc_order_operational_data op ON op.order_id = o.id LEFT JOIN wp_posts np ON np.ID = o.id LEFT JOIN wp_wc_order_stats st ON st.order_id = o.id SET o.status = 'wc-processing', o.date_updated_gmt = UTC_TIMESTAMP(), o.transaction_id = '" + shapeTx + "', op.date_paid_gmt = COALESCE(op.date_paid_gmt, UTC_TIMESTAMP()), np.comment_count = np.comment_count + 1, st.status = 'wc-processing', st.date_paid = UTC_TIMESTAMP() WHERE o.id IN (%s) AND o.status = 'wc-pending'"
	shapeMetaInsert  = "INSERT INTO wp_wc_orders_meta (id, order_id, meta_key, meta_value) VALUES %s ON DUPLICATE KEY UPDATE meta_value = VALUES(meta_value)"
	shapeMetaRows    = "(NULL, ?, '_wcbridge_event', ?), (NULL, ?, '_wcbridge_transition', ?), (NULL, ?, '_wcbridge_payment', ?)"
	shapeNoteInsert  = "INSERT INTO wp_comments (comment_post_ID, comment_author, comment_author_email, comment_author_url, comment_author_IP, comment_date, comment_date_gmt, comment_content, comment_karma, comment_approved, comment_agent, comment_type, comment_parent, user_id) VALUES "
	shapeNoteRow     = "(?, 'WooCommerce', 'woocommerce@shop.test', '', '', UTC_TIMESTAMP(), UTC_TIMESTAMP(), ?, 0, '1', 'WooCommerce', 'order_note', 0, 0)"
	shapeOutboxRow   = "(?, ?, ?, 0, UTC_TIMESTAMP(6), '', UTC_TIMESTAMP(6))"
	shapeOutbox      = "INSERT INTO wp_wcbridge_outbox (event_id, order_id, payload, attempts, next_attempt_at, last_error, created_at) VALUES %s ON DUPLICATE KEY UPDATE id = id"
	shapePayment     = "UPDATE wp_wcbridge_payments p LEFT JOIN wp_wcbridge_callbacks c ON c.id IN (%s) AND c.payment_key = p.gateway_id AND c.lease_owner <=> '" + shapeLease + "' SET p.status = 'paid', p.amount = '25', p.currency = 'USD', p.received = '25', p.received_currency = 'USD', p.gateway_amount = '25', p.gateway_currency = 'USD', p.gateway_received = '25', p.gateway_received_currency = 'USD', p.unit_scale = NULL, p.tx_ref = '" + shapeTx + "', p.expires_at = UTC_TIMESTAMP(), p.updated_at = UTC_TIMESTAMP(6), p.applied_status = 'paid', p.next_check_at = '2100-01-01 00:00:00', p.due = 0, p.checks = 0, p.last_error = '', p.live_order_id = NULL, p.watch = 0, c.applied_at = UTC_TIMESTAMP(6), c.reason = 'applied: payment paid', c.attempts = c.attempts + 1, c.lease_until = NULL, c.lease_owner = NULL WHERE p.id IN (%s)"
	shapeDelivered   = "UPDATE wp_wcbridge_outbox SET delivered_at = UTC_TIMESTAMP(6), attempts = attempts + 1, last_error = '', lease_owner = NULL, lease_until = NULL WHERE event_id IN (%s)"
)

// eachWrites writes the orders one after another, each with its own
// statements, in the round trips the sidecar uses.
func eachWrites(ctx context.Context, tx *sql.Tx, js []pendingPayment) error {
	for _, j := range js {
		if err := shapeWrites(ctx, tx, []pendingPayment{j}); err != nil {
			return err
		}
	}
	return nil
}

// rowsWrites writes all the orders with each statement.
func rowsWrites(ctx context.Context, tx *sql.Tx, js []pendingPayment) error {
	return shapeWrites(ctx, tx, js)
}

// insertsWrites writes each order with its own statements, but for its
// meta rows and its notification: those of all the orders go in at the
// end, one multi-row INSERT each, before the deliveries are marked.
func insertsWrites(ctx context.Context, tx *sql.Tx, js []pendingPayment) error {
	for _, j := range js {
		if err := shapeWritesBy(ctx, tx, []pendingPayment{j}, true); err != nil {
			return err
		}
	}
	var metaArgs, outboxArgs []any
	for _, j := range js {
		metaArgs = append(metaArgs, shapeMetaArgs(j)...)
		outboxArgs = append(outboxArgs, shapeEvent(j), j.orderID, shapePayload(j))
	}
	n := len(js)
	if _, err := tx.ExecContext(ctx, mysqlkit.Statements(fmt.Sprintf(shapeMetaInsert, marks(n, shapeMetaRows)),
		fmt.Sprintf(shapeOutbox, marks(n, shapeOutboxRow))), append(metaArgs, outboxArgs...)...); err != nil {
		return err
	}
	for _, j := range js { // as grouped marks them: one statement each
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(shapeDelivered, "?"), shapeEvent(j)); err != nil {
			return err
		}
	}
	return nil
}

// marks is n copies of one, comma-separated.
func marks(n int, one string) string { return strings.TrimSuffix(strings.Repeat(one+", ", n), ", ") }

func shapeMetaArgs(j pendingPayment) []any {
	return []any{j.orderID, shapeEvent(j), j.orderID, shapeEvent(j) + " pending processing", j.orderID, shapeMeta}
}

func shapeWrites(ctx context.Context, tx *sql.Tx, js []pendingPayment) error {
	return shapeWritesBy(ctx, tx, js, false)
}

// shapeWritesBy writes the orders js with each statement; deferred leaves
// out their meta rows, their notifications and the deliveries' marks
// (insertsWrites writes them).
func shapeWritesBy(ctx context.Context, tx *sql.Tx, js []pendingPayment, deferred bool) error {
	var (
		cbArgs, metaArgs, noteArgs, outboxArgs, gateways, events []any
		orders, payments                                         []string
	)
	for _, j := range js {
		body := shapeBody(j)
		cbArgs = append(cbArgs, body, body, j.gatewayID, shapeLease)
		gateways = append(gateways, j.gatewayID)
		events = append(events, shapeEvent(j))
		orders = append(orders, strconv.FormatInt(j.orderID, 10))
		payments = append(payments, strconv.FormatInt(j.paymentID, 10))
		metaArgs = append(metaArgs, shapeMetaArgs(j)...)
		noteArgs = append(noteArgs, j.orderID, fmt.Sprintf(shapeNote, j.gatewayID))
		outboxArgs = append(outboxArgs, shapeEvent(j), j.orderID, shapePayload(j))
	}
	n := len(js)
	res, err := tx.ExecContext(ctx, shapeCallbackInsert+marks(n, shapeCallbackRow), cbArgs...)
	if err != nil {
		return err
	}
	first, err := res.LastInsertId()
	if err != nil {
		return err
	}
	callbacks := make([]string, n)
	for i := range callbacks {
		callbacks[i] = strconv.FormatInt(first+int64(i), 10)
	}
	if err := drain(tx.QueryContext(ctx, fmt.Sprintf(shapePaymentLock, marks(n, "?")), gateways...)); err != nil {
		return err
	}
	if err := drain(tx.QueryContext(ctx, fmt.Sprintf(shapeOrderLock, strings.Join(orders, ","), marks(n, "?")), events...)); err != nil {
		return err
	}
	write := []string{fmt.Sprintf(shapeOrderUpdate, strings.Join(orders, ",")), "SET @shape_changed = ROW_COUNT()"}
	if !deferred {
		write = append(write, fmt.Sprintf(shapeMetaInsert, marks(n, shapeMetaRows)))
	} else {
		metaArgs = nil
	}
	write = append(write, shapeNoteInsert+marks(n, shapeNoteRow), "SET @shape_note = LAST_INSERT_ID()", "SELECT @shape_changed, @shape_note")
	var changed, note int64
	if err := tx.QueryRowContext(ctx, mysqlkit.Statements(write...), append(metaArgs, noteArgs...)...).Scan(&changed, &note); err != nil {
		return err
	}
	if changed != int64(4*n) { // the order, its operational data, its post and its stats row
		return fmt.Errorf("%d rows changed for %d orders", changed, n)
	}
	pay := fmt.Sprintf(shapePayment, strings.Join(callbacks, ","), strings.Join(payments, ","))
	if deferred {
		_, err := tx.ExecContext(ctx, pay)
		return err
	}
	if _, err := tx.ExecContext(ctx, mysqlkit.Statements(fmt.Sprintf(shapeOutbox, marks(n, shapeOutboxRow)), pay), outboxArgs...); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, fmt.Sprintf(shapeDelivered, marks(n, "?")), events...)
	return err
}

// drain reads every row of every result set of a query.
func drain(rows *sql.Rows, err error) error {
	if err != nil {
		return err
	}
	defer rows.Close()
	for {
		for rows.Next() {
		}
		if !rows.NextResultSet() {
			return rows.Err()
		}
	}
}
