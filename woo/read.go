package woo

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/mysqlkit"
)

// MetaPrefix starts every order meta key the bridge owns.
const MetaPrefix = "_wcbridge_"

// EventMetaKey holds, one row per event, the EventIDs of applied updates.
const EventMetaKey = MetaPrefix + "event"

// TransitionMetaKey holds, one row per status change, "<event id> <from>
// <to>" (statuses without the wc- prefix), in the order the changes were
// made: the plugin reads it to tell an order the shop moved from one the
// sidecar itself moved on.
const TransitionMetaKey = MetaPrefix + "transition"

const dateFormat = "2006-01-02 15:04:05"

// dbTime scans a DATETIME (mysqlkit.Time): WordPress stores naive
// datetimes, UTC in *_gmt columns and site-local elsewhere.
type dbTime = mysqlkit.Time

// Order reads an order from the authoritative storage of the current mode.
func (s *Store) Order(ctx context.Context, id int64) (*bridge.Order, error) {
	return s.order(ctx, s.db, id)
}

// OrderTx is Order read inside tx, with the last storage mode detected
// (see ApplyOrderTx).
func (s *Store) OrderTx(ctx context.Context, tx *sql.Tx, id int64) (*bridge.Order, error) {
	return s.order(ctx, tx, id)
}

func (s *Store) order(ctx context.Context, q querier, id int64) (*bridge.Order, error) {
	mode := s.mode
	if q != querier(s.db) {
		mode = s.modeInTx
	}
	d, err := mode(ctx)
	if err != nil {
		return nil, err
	}
	st := d.site
	var o *bridge.Order
	if isHPOS(d.mode) {
		o, err = s.readHPOS(ctx, q, id)
	} else {
		o, err = s.readPosts(ctx, q, st.loc, id)
	}
	if err == nil {
		o.Items, err = s.readItems(ctx, q, d, id)
	}
	if err != nil {
		return nil, fmt.Errorf("woo: read order %d: %w", id, mapErr(err))
	}
	return o, nil
}

func isHPOS(m bridge.StorageMode) bool {
	return m == bridge.StorageHPOS || m == bridge.StorageHPOSSync
}

// unprefixed strips the wc- prefix of a stored status.
func unprefixed(status string) string { return strings.TrimPrefix(status, "wc-") }

// prefixed is the status as WooCommerce stores it (docs/woocommerce-tables.md §5).
func prefixed(status string) string {
	switch status {
	case "auto-draft", "draft", "trash":
		return status
	}
	return "wc-" + status
}

func (s *Store) readHPOS(ctx context.Context, q querier, id int64) (*bridge.Order, error) {
	var (
		o                bridge.Order
		total            sql.NullString
		created, updated dbTime
		paid             dbTime
	)
	err := q.QueryRowContext(ctx, `SELECT o.id, COALESCE(o.type, ''), COALESCE(o.status, ''), COALESCE(o.currency, ''), o.total_amount,
 COALESCE(o.payment_method, ''), COALESCE(o.payment_method_title, ''), COALESCE(o.billing_email, ''), COALESCE(o.transaction_id, ''),
 o.date_created_gmt, o.date_updated_gmt, COALESCE(op.order_key, ''), op.date_paid_gmt
 FROM `+s.t("wc_orders")+` o LEFT JOIN `+s.t("wc_order_operational_data")+` op ON op.order_id = o.id
 WHERE o.id = ?`, id).Scan(&o.ID, &o.Type, &o.Status, &o.Currency, &total, &o.PaymentMethod, &o.PaymentMethodTitle,
		&o.BillingEmail, &o.TransactionID, &created, &updated, &o.OrderKey, &paid)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, bridge.ErrOrderNotFound
	} else if err != nil {
		return nil, err
	}
	o.Status = unprefixed(o.Status)
	if o.Total, err = parseAmount(total.String); err != nil {
		return nil, err
	}
	o.CreatedAt, o.ModifiedAt, o.PaidAt = created.Time, updated.Time, paid.Ptr()
	meta, err := metaRows(ctx, q, "SELECT meta_key, meta_value FROM "+s.t("wc_orders_meta")+" WHERE order_id = ? ORDER BY id", id)
	if err != nil {
		return nil, err
	}
	o.Meta = bridgeMeta(meta)
	return &o, nil
}

// isOrderPostType tells order post types from products, coupons and HPOS
// placeholders, which share the posts table.
func isOrderPostType(t string) bool {
	return (strings.HasPrefix(t, "shop_order") && t != placeholderType) || t == "shop_subscription"
}

const placeholderType = "shop_order_placehold"

func (s *Store) readPosts(ctx context.Context, q querier, loc *time.Location, id int64) (*bridge.Order, error) {
	var (
		o                 bridge.Order
		created, modified dbTime
		password          string
	)
	err := q.QueryRowContext(ctx, "SELECT ID, post_type, post_status, post_date_gmt, post_modified_gmt, post_password FROM "+s.t("posts")+" WHERE ID = ?", id).
		Scan(&o.ID, &o.Type, &o.Status, &created, &modified, &password)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !isOrderPostType(o.Type)) {
		return nil, bridge.ErrOrderNotFound
	} else if err != nil {
		return nil, err
	}
	o.Status = unprefixed(o.Status)
	o.CreatedAt, o.ModifiedAt = created.Time, modified.Time
	meta, err := metaRows(ctx, q, "SELECT meta_key, meta_value FROM "+s.t("postmeta")+" WHERE post_id = ? ORDER BY meta_id", id)
	if err != nil {
		return nil, err
	}
	o.Currency = meta["_order_currency"]
	if o.Total, err = parseAmount(meta["_order_total"]); err != nil {
		return nil, err
	}
	o.OrderKey = meta["_order_key"]
	if o.OrderKey == "" {
		o.OrderKey = password
	}
	o.PaymentMethod = meta["_payment_method"]
	o.PaymentMethodTitle = meta["_payment_method_title"]
	o.BillingEmail = meta["_billing_email"]
	o.TransactionID = meta["_transaction_id"]
	o.PaidAt, err = postsDate(meta["_date_paid"], meta["_paid_date"], loc)
	if err != nil {
		return nil, err
	}
	o.Meta = bridgeMeta(meta)
	return &o, nil
}

// postsDate reads a CPT date the way WooCommerce does: the Unix timestamp
// key, falling back to the legacy site-local key when it is empty.
func postsDate(unix, legacy string, loc *time.Location) (*time.Time, error) {
	if n, err := strconv.ParseInt(unix, 10, 64); err == nil && n > 0 {
		t := time.Unix(n, 0).UTC()
		return &t, nil
	}
	var d dbTime
	if err := d.Scan(legacy); err != nil || !d.Valid {
		return nil, err
	}
	t := d.In(loc)
	return &t, nil
}

func parseAmount(s string) (decimal.Decimal, error) {
	if s == "" {
		return decimal.Zero, nil
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Zero, fmt.Errorf("amount %q: %w", s, err)
	}
	return d, nil
}

// metaRows reads key/value rows; the first value of a key wins, as in
// WooCommerce's CPT data store.
func metaRows(ctx context.Context, q querier, query string, args ...any) (map[string]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v sql.NullString
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		if _, seen := out[k.String]; !seen {
			out[k.String] = v.String
		}
	}
	return out, rows.Err()
}

func bridgeMeta(meta map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range meta {
		if strings.HasPrefix(k, MetaPrefix) {
			out[k] = v
		}
	}
	return out
}

// readItems reads the line items with their virtual/downloadable flags: from
// wc_product_meta_lookup, the variation first, then the product; for a
// product without a lookup row, from its _virtual/_downloadable postmeta.
func (s *Store) readItems(ctx context.Context, q querier, d *detection, orderID int64) ([]bridge.OrderItem, error) {
	rows, err := q.QueryContext(ctx, `SELECT i.order_item_id, i.order_item_name, m.meta_key, m.meta_value
 FROM `+s.t("woocommerce_order_items")+` i LEFT JOIN `+s.t("woocommerce_order_itemmeta")+` m
 ON m.order_item_id = i.order_item_id AND m.meta_key IN ('_product_id', '_variation_id', '_qty', '_line_total')
 WHERE i.order_id = ? AND i.order_item_type = 'line_item' ORDER BY i.order_item_id, m.meta_id`, orderID)
	if err != nil {
		return nil, fmt.Errorf("read items: %w", err)
	}
	defer rows.Close()
	var items []bridge.OrderItem
	type itemKey struct {
		id  int64
		key string
	}
	seen := map[itemKey]bool{} // first value of a key wins
	for rows.Next() {
		var (
			id         int64
			name       string
			key, value sql.NullString
		)
		if err := rows.Scan(&id, &name, &key, &value); err != nil {
			return nil, fmt.Errorf("read items: %w", err)
		}
		if len(items) == 0 || items[len(items)-1].ID != id {
			items = append(items, bridge.OrderItem{ID: id, Name: name})
		}
		it := &items[len(items)-1]
		k := itemKey{id, key.String}
		if !key.Valid || seen[k] {
			continue
		}
		seen[k] = true
		switch key.String {
		case "_product_id":
			it.ProductID, _ = strconv.ParseInt(value.String, 10, 64)
		case "_variation_id":
			it.VariationID, _ = strconv.ParseInt(value.String, 10, 64)
		case "_qty":
			if it.Quantity, err = parseAmount(value.String); err != nil {
				return nil, fmt.Errorf("item %d qty: %w", id, err)
			}
		case "_line_total":
			if it.Total, err = parseAmount(value.String); err != nil {
				return nil, fmt.Errorf("item %d total: %w", id, err)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read items: %w", err)
	}
	rows.Close()
	if err := s.itemFlags(ctx, q, d, items); err != nil {
		return nil, fmt.Errorf("read product flags: %w", err)
	}
	return items, nil
}

type flags struct{ virtual, downloadable bool }

func (s *Store) itemFlags(ctx context.Context, q querier, d *detection, items []bridge.OrderItem) error {
	var ids []any
	for _, it := range items {
		for _, id := range []int64{it.VariationID, it.ProductID} {
			if id > 0 {
				ids = append(ids, id)
			}
		}
	}
	if len(ids) == 0 {
		return nil
	}
	lookup := map[int64]flags{}
	if d.tables["wc_product_meta_lookup"] {
		rows, err := q.QueryContext(ctx, "SELECT product_id, COALESCE(`virtual`, 0), COALESCE(downloadable, 0) FROM "+s.t("wc_product_meta_lookup")+" WHERE product_id IN ("+placeholders(len(ids))+")", ids...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id, virtual, downloadable int64
			if err := rows.Scan(&id, &virtual, &downloadable); err != nil {
				rows.Close()
				return err
			}
			lookup[id] = flags{virtual == 1, downloadable == 1}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	meta := map[int64]flags{}
	rows, err := q.QueryContext(ctx, "SELECT post_id, meta_key, meta_value FROM "+s.t("postmeta")+" WHERE post_id IN ("+placeholders(len(ids))+") AND meta_key IN ('_virtual', '_downloadable') ORDER BY meta_id", ids...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id   int64
			k, v string
		)
		if err := rows.Scan(&id, &k, &v); err != nil {
			return err
		}
		f := meta[id]
		if k == "_virtual" {
			f.virtual = v == "yes"
		} else {
			f.downloadable = v == "yes"
		}
		meta[id] = f
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for i := range items {
		it := &items[i]
		for _, id := range []int64{it.VariationID, it.ProductID} {
			if f, ok := lookup[id]; ok && id > 0 {
				it.Virtual, it.Downloadable = f.virtual, f.downloadable
				break
			}
			if f, ok := meta[id]; ok && id > 0 {
				it.Virtual, it.Downloadable = f.virtual, f.downloadable
				break
			}
		}
	}
	return nil
}
