package wootest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/wcbridge/wcbridge/bridge"
)

// OrderSeed describes an order to write the way WooCommerce would.
type OrderSeed struct {
	Currency           string // default EUR
	Total              string // decimal string, up to 8 places; default 10.00
	Status             string // without wc- prefix; default pending
	PaymentMethod      string // default wcbridge_streampay
	PaymentMethodTitle string // default "Crypto (StreamPay)"
	BillingEmail       string // default customer@example.com
	CreatedVia         string // default checkout
	Type               string // default shop_order
	Items              []ItemSeed
	Created            time.Time      // default an hour before now
	Modified           time.Time      // default Created
	TimeZone           *time.Location // site timezone for local columns; default UTC
}

// ItemSeed is one line item; a product is created for it.
type ItemSeed struct {
	Name         string
	Qty          int    // default 1
	Total        string // default 10.00
	Virtual      bool
	Downloadable bool
}

const dateFormat = "2006-01-02 15:04:05"

func (o *OrderSeed) defaults() {
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&o.Currency, "EUR")
	def(&o.Total, "10.00")
	def(&o.Status, bridge.StatusPending)
	def(&o.PaymentMethod, "wcbridge_streampay")
	def(&o.PaymentMethodTitle, "Crypto (StreamPay)")
	def(&o.BillingEmail, "customer@example.com")
	def(&o.CreatedVia, "checkout")
	def(&o.Type, "shop_order")
	if o.Created.IsZero() {
		o.Created = time.Now().Add(-time.Hour)
	}
	o.Created = o.Created.UTC().Truncate(time.Second)
	if o.Modified.IsZero() {
		o.Modified = o.Created
	}
	o.Modified = o.Modified.UTC().Truncate(time.Second)
	if o.TimeZone == nil {
		o.TimeZone = time.UTC
	}
	items := make([]ItemSeed, len(o.Items))
	for i, it := range o.Items {
		if it.Qty == 0 {
			it.Qty = 1
		}
		def(&it.Total, "10.00")
		def(&it.Name, "Product "+strconv.Itoa(i+1))
		items[i] = it
	}
	o.Items = items
}

// storedStatus is the status as WooCommerce stores it: wc- prefixed except
// for WordPress's own post statuses.
func storedStatus(s string) string {
	switch s {
	case "auto-draft", "draft", "trash":
		return s
	}
	return "wc-" + s
}

// OrderKey returns a new order key: "wc_order_" and 13 alphanumerics, as
// wc_generate_order_key() makes them.
func OrderKey() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	var b strings.Builder
	b.WriteString("wc_order_")
	for range 13 {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		b.WriteByte(alphabet[n.Int64()])
	}
	return b.String()
}

// execer is the part of *sql.DB and *sql.Tx the seed uses.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// Seed writes an order exactly as WooCommerce would in mode: the id comes
// from posts' AUTO_INCREMENT in every mode; D writes a placeholder post and
// the HPOS rows; C and B write the HPOS rows and a full shop_order post with
// postmeta holding equal values and the same modified time; A writes the post
// and postmeta only. It also writes the products of the items and the
// wc_order_stats row the analytics import would have written.
func Seed(ctx context.Context, db *sql.DB, mode bridge.StorageMode, prefix string, o OrderSeed) (int64, error) {
	o.defaults()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("seed: %w", err)
	}
	defer tx.Rollback()
	id, err := seed(ctx, tx, mode, prefix, o)
	if err != nil {
		return 0, fmt.Errorf("seed: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("seed: %w", err)
	}
	return id, nil
}

func seed(ctx context.Context, tx execer, mode bridge.StorageMode, p string, o OrderSeed) (int64, error) {
	local := func(t time.Time) string { return t.In(o.TimeZone).Format(dateFormat) }
	gmt := func(t time.Time) string { return t.UTC().Format(dateFormat) }
	hpos := mode != bridge.StoragePosts
	posts := mode != bridge.StorageHPOS
	key := OrderKey()
	status := storedStatus(o.Status)

	products := make([]int64, len(o.Items))
	for i, it := range o.Items {
		pid, err := seedProduct(ctx, tx, p, it, local(o.Created), gmt(o.Created))
		if err != nil {
			return 0, err
		}
		products[i] = pid
	}

	postType, postStatus, password := o.Type, status, key
	if !posts {
		postType, postStatus, password = "shop_order_placehold", "draft", ""
	}
	title := "Order &ndash; " + o.Created.In(o.TimeZone).Format("Jan 02, 2006 @ 03:04 PM")
	res, err := tx.ExecContext(ctx, "INSERT INTO "+p+`posts (post_author, post_date, post_date_gmt, post_content, post_title, post_excerpt,
 post_status, comment_status, ping_status, post_password, post_name, to_ping, pinged, post_modified, post_modified_gmt,
 post_content_filtered, post_parent, guid, menu_order, post_type, post_mime_type, comment_count)
 VALUES (1, ?, ?, '', ?, '', ?, 'closed', 'closed', ?, '', '', '', ?, ?, '', 0, '', 0, ?, '', 0)`,
		local(o.Created), gmt(o.Created), title, postStatus, password, local(o.Modified), gmt(o.Modified), postType)
	if err != nil {
		return 0, fmt.Errorf("order post: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, err
	}

	if hpos {
		if _, err := tx.ExecContext(ctx, "INSERT INTO "+p+`wc_orders (id, status, currency, type, tax_amount, total_amount, customer_id,
 billing_email, date_created_gmt, date_updated_gmt, parent_order_id, payment_method, payment_method_title, transaction_id,
 ip_address, user_agent, customer_note) VALUES (?, ?, ?, ?, 0, ?, 0, ?, ?, ?, 0, ?, ?, '', '127.0.0.1', 'wootest', '')`,
			id, status, o.Currency, o.Type, o.Total, o.BillingEmail, gmt(o.Created), gmt(o.Modified), o.PaymentMethod, o.PaymentMethodTitle); err != nil {
			return 0, fmt.Errorf("wc_orders: %w", err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO "+p+`wc_order_addresses (order_id, address_type, first_name, last_name, email, country)
 VALUES (?, 'billing', 'Ada', 'Lovelace', ?, 'DE')`, id, o.BillingEmail); err != nil {
			return 0, fmt.Errorf("wc_order_addresses: %w", err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO "+p+`wc_order_operational_data (order_id, created_via, woocommerce_version,
 prices_include_tax, coupon_usages_are_counted, download_permission_granted, cart_hash, new_order_email_sent, order_key,
 order_stock_reduced, date_paid_gmt, date_completed_gmt, shipping_tax_amount, shipping_total_amount, discount_tax_amount,
 discount_total_amount, recorded_sales) VALUES (?, ?, ?, 0, 0, 0, '', 0, ?, 0, NULL, NULL, 0, 0, 0, 0, 0)`,
			id, o.CreatedVia, WooCommerceVersion, key); err != nil {
			return 0, fmt.Errorf("wc_order_operational_data: %w", err)
		}
	}
	if posts {
		meta := [][2]string{
			{"_order_key", key},
			{"_customer_user", "0"},
			{"_payment_method", o.PaymentMethod},
			{"_payment_method_title", o.PaymentMethodTitle},
			{"_customer_ip_address", "127.0.0.1"},
			{"_customer_user_agent", "wootest"},
			{"_created_via", o.CreatedVia},
			{"_cart_hash", ""},
			{"_billing_first_name", "Ada"},
			{"_billing_last_name", "Lovelace"},
			{"_billing_email", o.BillingEmail},
			{"_billing_country", "DE"},
			{"_order_currency", o.Currency},
			{"_cart_discount", "0"},
			{"_cart_discount_tax", "0"},
			{"_order_shipping", "0"},
			{"_order_shipping_tax", "0"},
			{"_order_tax", "0"},
			{"_order_total", o.Total},
			{"_order_version", WooCommerceVersion},
			{"_prices_include_tax", "no"},
			{"_transaction_id", ""},
			{"_date_paid", ""},
			{"_date_completed", ""},
			{"_recorded_sales", "no"},
			{"_recorded_coupon_usage_counts", "no"},
			{"_order_stock_reduced", "no"},
			{"_download_permissions_granted", "no"},
			{"_new_order_email_sent", "false"},
		}
		for _, m := range meta {
			if _, err := tx.ExecContext(ctx, "INSERT INTO "+p+"postmeta (post_id, meta_key, meta_value) VALUES (?, ?, ?)", id, m[0], m[1]); err != nil {
				return 0, fmt.Errorf("postmeta: %w", err)
			}
		}
	}

	var sold int
	for i, it := range o.Items {
		res, err := tx.ExecContext(ctx, "INSERT INTO "+p+"woocommerce_order_items (order_item_name, order_item_type, order_id) VALUES (?, 'line_item', ?)", it.Name, id)
		if err != nil {
			return 0, fmt.Errorf("order item: %w", err)
		}
		itemID, err := res.LastInsertId()
		if err != nil {
			return 0, err
		}
		meta := [][2]string{
			{"_product_id", strconv.FormatInt(products[i], 10)},
			{"_variation_id", "0"},
			{"_qty", strconv.Itoa(it.Qty)},
			{"_tax_class", ""},
			{"_line_subtotal", it.Total},
			{"_line_subtotal_tax", "0"},
			{"_line_total", it.Total},
			{"_line_tax", "0"},
			{"_line_tax_data", `a:2:{s:5:"total";a:0:{}s:8:"subtotal";a:0:{}}`},
		}
		for _, m := range meta {
			if _, err := tx.ExecContext(ctx, "INSERT INTO "+p+"woocommerce_order_itemmeta (order_item_id, meta_key, meta_value) VALUES (?, ?, ?)", itemID, m[0], m[1]); err != nil {
				return 0, fmt.Errorf("order itemmeta: %w", err)
			}
		}
		sold += it.Qty
	}

	if _, err := tx.ExecContext(ctx, "INSERT INTO "+p+`wc_order_stats (order_id, parent_id, date_created, date_created_gmt, date_paid,
 date_completed, num_items_sold, total_sales, tax_total, shipping_total, net_total, returning_customer, status, customer_id)
 VALUES (?, 0, ?, ?, NULL, NULL, ?, ?, 0, 0, ?, 0, ?, 0)`,
		id, local(o.Created), gmt(o.Created), sold, o.Total, o.Total, status); err != nil {
		return 0, fmt.Errorf("wc_order_stats: %w", err)
	}
	return id, nil
}

func seedProduct(ctx context.Context, tx execer, p string, it ItemSeed, local, gmt string) (int64, error) {
	res, err := tx.ExecContext(ctx, "INSERT INTO "+p+`posts (post_author, post_date, post_date_gmt, post_content, post_title, post_excerpt,
 post_status, comment_status, ping_status, post_password, post_name, to_ping, pinged, post_modified, post_modified_gmt,
 post_content_filtered, post_parent, guid, menu_order, post_type, post_mime_type, comment_count)
 VALUES (1, ?, ?, '', ?, '', 'publish', 'open', 'closed', '', '', '', '', ?, ?, '', 0, '', 0, 'product', '', 0)`,
		local, gmt, it.Name, local, gmt)
	if err != nil {
		return 0, fmt.Errorf("product post: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, err
	}
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	for _, m := range [][2]string{{"_virtual", yes(it.Virtual)}, {"_downloadable", yes(it.Downloadable)}, {"_price", it.Total}, {"_regular_price", it.Total}} {
		if _, err := tx.ExecContext(ctx, "INSERT INTO "+p+"postmeta (post_id, meta_key, meta_value) VALUES (?, ?, ?)", id, m[0], m[1]); err != nil {
			return 0, fmt.Errorf("product meta: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO "+p+"wc_product_meta_lookup (product_id, sku, `virtual`, downloadable, min_price, max_price, stock_status, tax_status) VALUES (?, '', ?, ?, ?, ?, 'instock', 'taxable')",
		id, it.Virtual, it.Downloadable, it.Total, it.Total); err != nil {
		return 0, fmt.Errorf("product lookup: %w", err)
	}
	return id, nil
}
