package woo_test

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/woo"
	"github.com/wcbridge/wcbridge/woo/wootest"
)

func TestNewRejectsBadPrefixes(t *testing.T) {
	db := wootest.Open(t)
	for _, p := range []string{"wp_; DROP TABLE x", "wp-", "`", "", strings.Repeat("a", 41), "wp_ ", "wp_'", "wp_.x"} {
		_, err := woo.New(db.DB, p, woo.Options{})
		if bridge.ErrorCode(err) != bridge.EINVALID || !strings.Contains(err.Error(), "prefix") {
			t.Errorf("New(%q) = %v, want an invalid prefix error", p, err)
		}
	}
	for _, p := range []string{"wp_", "shop7_", "wp_2_", strings.Repeat("a", 40)} {
		if _, err := woo.New(db.DB, p, woo.Options{}); err != nil {
			t.Errorf("New(%q) = %v", p, err)
		}
	}
}

// TestOrderRead reads every field back, in every mode, with totals at the
// full 8 decimals WooCommerce's HPOS columns hold.
func TestOrderRead(t *testing.T) {
	for _, mode := range modes {
		for _, total := range []string{"0.00000001", "123456789.12345678"} {
			t.Run("mode="+string(mode)+"/total="+total, func(t *testing.T) {
				f := newFixture(t, mode, "shop7_", wootest.WithTimezone("Europe/Berlin"))
				created := t0.Add(-2 * time.Hour)
				id := f.seed(t, wootest.OrderSeed{Total: total, Currency: "USD", BillingEmail: "ada@example.com",
					PaymentMethodTitle: "Crypto", Items: []wootest.ItemSeed{
						{Name: "Mug", Qty: 3, Total: "30.50"},
						{Name: "E-book", Virtual: true, Downloadable: true, Total: "1.25"},
						{Name: "Service", Virtual: true, Total: "2.00"},
					}})
				o, err := f.woo.Order(context.Background(), id)
				if err != nil {
					t.Fatal(err)
				}
				want, _ := decimal.NewFromString(total)
				if !o.Total.Equal(want) || o.Total.String() != total {
					t.Errorf("Total = %s, want %s exactly", o.Total, total)
				}
				if o.ID != id || o.Type != "shop_order" || o.Status != bridge.StatusPending || o.Currency != "USD" ||
					o.PaymentMethod != method || o.PaymentMethodTitle != "Crypto" || o.BillingEmail != "ada@example.com" ||
					o.TransactionID != "" || o.PaidAt != nil || !o.CreatedAt.Equal(created) || !o.ModifiedAt.Equal(created) {
					t.Errorf("order = %+v", o)
				}
				if len(o.OrderKey) != 22 || !strings.HasPrefix(o.OrderKey, "wc_order_") {
					t.Errorf("OrderKey = %q", o.OrderKey)
				}
				type item struct {
					name       string
					qty, total string
					v, d       bool
				}
				var got []item
				for _, it := range o.Items {
					if it.ProductID == 0 || it.ID == 0 {
						t.Errorf("item %+v without ids", it)
					}
					got = append(got, item{it.Name, it.Quantity.String(), it.Total.StringFixed(2), it.Virtual, it.Downloadable})
				}
				wantItems := []item{{"Mug", "3", "30.50", false, false}, {"E-book", "1", "1.25", true, true}, {"Service", "1", "2.00", true, false}}
				if !slices.Equal(got, wantItems) {
					t.Errorf("items = %+v, want %+v", got, wantItems)
				}
				if !o.NeedsProcessing() {
					t.Error("NeedsProcessing = false with a physical item")
				}

				res, err := f.woo.ApplyOrder(context.Background(), bridge.OrderUpdate{OrderID: id, Outcome: bridge.OutcomePaid,
					EventID: "ev-1", PaymentMethod: method, TransactionID: "tx-9", Note: "Paid.",
					Meta: map[string]string{"_wcbridge_payment_id": "pay_9", "_wcbridge_gateway": "streampay"}})
				if err != nil {
					t.Fatal(err)
				}
				o, err = f.woo.Order(context.Background(), id)
				if err != nil {
					t.Fatal(err)
				}
				if o.Status != bridge.StatusProcessing || o.TransactionID != "tx-9" || o.PaidAt == nil || !o.PaidAt.Equal(res.At) || !o.ModifiedAt.Equal(res.At) {
					t.Errorf("after paid: status %s txn %s paid %v modified %s, want processing tx-9 %s", o.Status, o.TransactionID, o.PaidAt, o.ModifiedAt, res.At)
				}
				wantMeta := map[string]string{"_wcbridge_payment_id": "pay_9", "_wcbridge_gateway": "streampay", woo.EventMetaKey: "ev-1",
					woo.TransitionMetaKey: "ev-1 pending processing"}
				if len(o.Meta) != len(wantMeta) {
					t.Errorf("Meta = %v, want %v", o.Meta, wantMeta)
				}
				for k, v := range wantMeta {
					if o.Meta[k] != v {
						t.Errorf("Meta[%s] = %q, want %q", k, o.Meta[k], v)
					}
				}
			})
		}
	}
}

func TestOrderNotFound(t *testing.T) {
	for _, mode := range modes {
		t.Run("mode="+string(mode), func(t *testing.T) {
			f := newFixture(t, mode, "wp_")
			id := f.seed(t, wootest.OrderSeed{Items: physical})
			product := f.Value(t, "SELECT MIN(ID) FROM {p}posts WHERE post_type = 'product'")
			for _, missing := range []string{"999999", product} {
				n, _ := strconv.ParseInt(missing, 10, 64)
				if _, err := f.woo.Order(context.Background(), n); !errors.Is(err, bridge.ErrOrderNotFound) {
					t.Errorf("Order(%d) = %v, want ErrOrderNotFound", n, err)
				}
			}
			if _, err := f.woo.Order(context.Background(), id); err != nil {
				t.Errorf("Order(%d) = %v", id, err)
			}
		})
	}
}

// TestOrderReadsHPOSNotStalePost: in HPOS mode a stale full post left from
// before the switch is never read.
func TestOrderReadsHPOSNotStalePost(t *testing.T) {
	f := newFixture(t, bridge.StorageHPOSSync, "wp_")
	id := f.seed(t, wootest.OrderSeed{Items: physical})
	f.Exec(t, "UPDATE {p}options SET option_value = 'no' WHERE option_name = 'woocommerce_custom_orders_table_data_sync_enabled'")
	f.Exec(t, "UPDATE {p}posts SET post_status = 'wc-cancelled' WHERE ID = ?", id)
	o, err := f.woo.Order(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if o.Status != bridge.StatusPending {
		t.Errorf("status = %s, want pending from wc_orders", o.Status)
	}
	if _, err := f.woo.ApplyOrder(context.Background(), paidUpdate(id, "ev-1")); err != nil {
		t.Fatal(err)
	}
	if got := f.Value(t, "SELECT post_status FROM {p}posts WHERE ID = ?", id); got != "wc-cancelled" {
		t.Errorf("stale post status = %s, want it untouched in hpos mode", got)
	}
}

func TestStorageModeDetection(t *testing.T) {
	tests := []struct {
		enabled, sync string
		want          bridge.StorageMode
	}{
		{"no", "no", bridge.StoragePosts},
		{"", "", bridge.StoragePosts},
		{"no", "yes", bridge.StoragePostsSync},
		{"yes", "yes", bridge.StorageHPOSSync},
		{"yes", "no", bridge.StorageHPOS},
		{"yes", "", bridge.StorageHPOS},
		{"YES", "yes", bridge.StoragePostsSync}, // WooCommerce compares with 'yes' strictly
	}
	f := newFixture(t, bridge.StoragePosts, "wp_")
	for _, tt := range tests {
		t.Run("enabled="+tt.enabled+"/sync="+tt.sync, func(t *testing.T) {
			set := func(name, v string) {
				if v == "" {
					f.Exec(t, "DELETE FROM {p}options WHERE option_name = ?", name)
					return
				}
				if err := wootest.SetOption(context.Background(), f.DB.DB, "wp_", name, v); err != nil {
					t.Fatal(err)
				}
			}
			set("woocommerce_custom_orders_table_enabled", tt.enabled)
			set("woocommerce_custom_orders_table_data_sync_enabled", tt.sync)
			got, err := f.woo.StorageMode(context.Background())
			if err != nil || got != tt.want {
				t.Errorf("StorageMode = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestStorageModeRefusesUncreatedHPOS(t *testing.T) {
	t.Run("created=no", func(t *testing.T) {
		f := newFixture(t, bridge.StorageHPOS, "wp_")
		f.Exec(t, "UPDATE {p}options SET option_value = 'no' WHERE option_name = 'woocommerce_custom_orders_table_created'")
		_, err := f.woo.StorageMode(context.Background())
		if !errors.Is(err, bridge.ErrStorageUnsupported) || !strings.Contains(err.Error(), "woocommerce_custom_orders_table_created") {
			t.Errorf("err = %v, want ErrStorageUnsupported naming the option", err)
		}
		if _, err := f.woo.ApplyOrder(context.Background(), paidUpdate(1, "ev")); !errors.Is(err, bridge.ErrStorageUnsupported) {
			t.Errorf("ApplyOrder err = %v, want ErrStorageUnsupported", err)
		}
	})
	t.Run("table-missing", func(t *testing.T) {
		f := newFixture(t, bridge.StorageHPOSSync, "wp_")
		f.Exec(t, "DROP TABLE {p}wc_order_operational_data")
		_, err := f.woo.StorageMode(context.Background())
		if !errors.Is(err, bridge.ErrStorageUnsupported) || !strings.Contains(err.Error(), "wp_wc_order_operational_data") {
			t.Errorf("err = %v, want ErrStorageUnsupported naming the table", err)
		}
	})
	t.Run("posts-mode-needs-no-hpos", func(t *testing.T) {
		f := newFixture(t, bridge.StoragePosts, "wp_")
		f.Exec(t, "UPDATE {p}options SET option_value = 'no' WHERE option_name = 'woocommerce_custom_orders_table_created'")
		f.Exec(t, "DROP TABLE {p}wc_orders")
		if got, err := f.woo.StorageMode(context.Background()); err != nil || got != bridge.StoragePosts {
			t.Errorf("StorageMode = %q, %v; want posts", got, err)
		}
	})
}

// TestModeIsReDetected: a cached mode is trusted for ModeTTL, then re-read.
func TestModeIsReDetected(t *testing.T) {
	f := newFixture(t, bridge.StoragePosts, "wp_")
	s, err := woo.New(f.DB.DB, "wp_", woo.Options{Now: f.clock.Now, ModeTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	id := f.seed(t, wootest.OrderSeed{Items: physical})
	if _, err := s.Order(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	// The admin switches to HPOS (sync had filled wc_orders meanwhile).
	f.Exec(t, "UPDATE {p}options SET option_value = 'yes' WHERE option_name = 'woocommerce_custom_orders_table_enabled'")
	if _, err := s.Order(context.Background(), id); err != nil {
		t.Fatalf("within TTL the cached posts mode still reads the post: %v", err)
	}
	f.clock.Set(t0.Add(2 * time.Minute))
	if _, err := s.Order(context.Background(), id); !errors.Is(err, bridge.ErrOrderNotFound) {
		t.Errorf("after TTL: err = %v, want ErrOrderNotFound from the empty wc_orders", err)
	}
}

func TestCheck(t *testing.T) {
	t.Run("healthy", func(t *testing.T) {
		for _, mode := range modes {
			f := newFixture(t, mode, "shop7_", wootest.WithTimezone("Europe/Berlin"))
			r, errs := f.woo.Check(context.Background())
			if len(errs) > 0 {
				t.Errorf("mode %s: %v", mode, errs)
			}
			want := woo.Report{Prefix: "shop7_", Mode: mode, Timezone: "Europe/Berlin", Version: wootest.WooCommerceVersion}
			if r != want {
				t.Errorf("report = %+v, want %+v", r, want)
			}
		}
	})
	t.Run("every-problem-at-once", func(t *testing.T) {
		f := newFixture(t, bridge.StorageHPOS, "wp_")
		for _, table := range []string{"wc_orders", "wc_orders_meta", "comments", "woocommerce_order_itemmeta"} {
			f.Exec(t, "DROP TABLE {p}"+table)
		}
		f.Exec(t, "ALTER TABLE {p}wc_order_operational_data DROP COLUMN date_paid_gmt")
		f.Exec(t, "DELETE FROM {p}options WHERE option_name IN ('woocommerce_version', 'woocommerce_custom_orders_table_created')")
		r, errs := f.woo.Check(context.Background())
		if r.Mode != bridge.StorageHPOS {
			t.Errorf("mode = %s", r.Mode)
		}
		var text []string
		for _, err := range errs {
			text = append(text, err.Error())
		}
		all := strings.Join(text, "\n")
		for _, want := range []string{"wp_wc_orders missing", "wp_wc_orders_meta missing", "wp_comments missing",
			"wp_woocommerce_order_itemmeta missing", "wp_wc_order_operational_data.date_paid_gmt missing",
			"woocommerce_version missing", "woocommerce_custom_orders_table_created is not yes"} {
			if !strings.Contains(all, want) {
				t.Errorf("Check errors lack %q:\n%s", want, all)
			}
		}
		if len(errs) != 7 {
			t.Errorf("%d errors, want 7:\n%s", len(errs), all)
		}
	})
	t.Run("no-options-table", func(t *testing.T) {
		db := wootest.Open(t)
		s, err := woo.New(db.DB, "wp_", woo.Options{})
		if err != nil {
			t.Fatal(err)
		}
		_, errs := s.Check(context.Background())
		if len(errs) == 0 || !strings.Contains(errs[0].Error(), "wp_options missing") {
			t.Errorf("errs = %v, want wp_options missing first", errs)
		}
		// Every other table of a posts store is reported too.
		if len(errs) != 8 {
			t.Errorf("%d errors, want 8: %v", len(errs), errs)
		}
	})
}

func TestDetectPrefixes(t *testing.T) {
	db := wootest.Open(t)
	ctx := context.Background()
	for _, p := range []string{"wp_", "shop7_"} {
		if err := wootest.Install(ctx, db.DB, bridge.StorageHPOS, p); err != nil {
			t.Fatal(err)
		}
	}
	// A WordPress without WooCommerce, and a table merely named like options.
	if _, err := db.Exec("CREATE TABLE blog_options (option_id bigint PRIMARY KEY, option_name varchar(191), option_value longtext)"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE x_options (id int PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	got, err := woo.DetectPrefixes(ctx, db.DB)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"shop7_", "wp_"}; !slices.Equal(got, want) {
		t.Errorf("DetectPrefixes = %v, want %v", got, want)
	}
}

// TestGMTOffsetSite: a site with only gmt_offset gets local columns at that
// offset.
func TestGMTOffsetSite(t *testing.T) {
	f := newFixture(t, bridge.StoragePosts, "wp_", wootest.WithGMTOffset("5.5"))
	id := f.seed(t, wootest.OrderSeed{Items: physical})
	res, err := f.woo.ApplyOrder(context.Background(), paidUpdate(id, "ev"))
	if err != nil {
		t.Fatal(err)
	}
	local := res.At.Add(5*time.Hour + 30*time.Minute).Format("2006-01-02 15:04:05")
	row := f.Row(t, "SELECT post_modified, post_modified_gmt FROM {p}posts WHERE ID = ?", id)
	if row["post_modified"] != local || row["post_modified_gmt"] != res.At.Format("2006-01-02 15:04:05") {
		t.Errorf("post times = %v, want local %s", row, local)
	}
	if got := f.PostMeta(t, id, "_paid_date"); !slices.Equal(got, []string{local}) {
		t.Errorf("_paid_date = %v, want [%s]", got, local)
	}
}

// TestUnavailable: a database that is down gives ErrUnavailable.
func TestUnavailable(t *testing.T) {
	db, err := sql.Open("mysql", "root@tcp(127.0.0.1:1)/wp?timeout=1s")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := woo.New(db, "wp_", woo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Order(context.Background(), 1); !errors.Is(err, bridge.ErrUnavailable) {
		t.Errorf("Order err = %v, want ErrUnavailable", err)
	}
	if _, err := s.ApplyOrder(context.Background(), paidUpdate(1, "ev")); !errors.Is(err, bridge.ErrUnavailable) {
		t.Errorf("ApplyOrder err = %v, want ErrUnavailable", err)
	}
	if _, err := s.StorageMode(context.Background()); !errors.Is(err, bridge.ErrUnavailable) {
		t.Errorf("StorageMode err = %v, want ErrUnavailable", err)
	}
}

// TestMirrorSkipped: the other copy is written only where it is a real copy:
// in hpos+sync a placeholder post waits for background sync, in posts+sync a
// missing HPOS row is left for sync to migrate.
func TestMirrorSkipped(t *testing.T) {
	t.Run("mode=hpos+sync/placeholder", func(t *testing.T) {
		f := newFixture(t, bridge.StorageHPOS, "wp_")
		id := f.seed(t, wootest.OrderSeed{Items: physical})
		f.Exec(t, "UPDATE {p}options SET option_value = 'yes' WHERE option_name = 'woocommerce_custom_orders_table_data_sync_enabled'")
		before := f.Row(t, "SELECT post_type, post_status, post_modified_gmt FROM {p}posts WHERE ID = ?", id)
		if _, err := f.woo.ApplyOrder(context.Background(), paidUpdate(id, "ev")); err != nil {
			t.Fatal(err)
		}
		diff(t, f.Row(t, "SELECT post_type, post_status, post_modified_gmt FROM {p}posts WHERE ID = ?", id), before)
		if n := f.Count(t, "postmeta", "post_id = ?", id); n != 0 {
			t.Errorf("placeholder got %d postmeta rows", n)
		}
		if got := f.Value(t, "SELECT status FROM {p}wc_orders WHERE id = ?", id); got != "wc-processing" {
			t.Errorf("wc_orders status = %s", got)
		}
	})
	t.Run("mode=posts+sync/no-hpos-row", func(t *testing.T) {
		f := newFixture(t, bridge.StoragePosts, "wp_")
		id := f.seed(t, wootest.OrderSeed{Items: physical})
		f.Exec(t, "UPDATE {p}options SET option_value = 'yes' WHERE option_name = 'woocommerce_custom_orders_table_data_sync_enabled'")
		if _, err := f.woo.ApplyOrder(context.Background(), paidUpdate(id, "ev")); err != nil {
			t.Fatal(err)
		}
		if got := f.Value(t, "SELECT post_status FROM {p}posts WHERE ID = ?", id); got != "wc-processing" {
			t.Errorf("post_status = %s", got)
		}
		for _, table := range []string{"wc_orders", "wc_order_operational_data"} {
			col := "order_id"
			if table == "wc_orders" {
				col = "id"
			}
			if n := f.Count(t, table, col+" = ?", id); n != 0 {
				t.Errorf("%s got %d rows; sync creates them", table, n)
			}
		}
		if n := f.Count(t, "wc_orders_meta", "order_id = ?", id); n != 0 {
			t.Errorf("wc_orders_meta got %d rows", n)
		}
	})
	t.Run("mode=hpos/no-operational-row", func(t *testing.T) {
		f := newFixture(t, bridge.StorageHPOS, "wp_")
		id := f.seed(t, wootest.OrderSeed{Items: physical})
		f.Exec(t, "DELETE FROM {p}wc_order_operational_data WHERE order_id = ?", id)
		before := state(t, f.Store, id)
		if _, err := f.woo.ApplyOrder(context.Background(), paidUpdate(id, "ev")); err == nil || !strings.Contains(err.Error(), "wc_order_operational_data") {
			t.Fatalf("err = %v, want the missing operational row named", err)
		}
		diff(t, state(t, f.Store, id), before)
	})
}

// TestLockWaitRetried: a lock wait timeout retries the whole transaction;
// when the lock outlives every retry the error is ErrUnavailable.
func TestLockWaitRetried(t *testing.T) {
	wootest.RequireReal(t, "lock wait timeouts need InnoDB")
	for _, hold := range []time.Duration{1500 * time.Millisecond, 5 * time.Second} {
		t.Run("hold="+hold.String(), func(t *testing.T) {
			f := newFixture(t, bridge.StorageHPOS, "wp_")
			id := f.seed(t, wootest.OrderSeed{Items: physical})
			impatient, err := sql.Open("mysql", f.DB.DSN+"&innodb_lock_wait_timeout=1")
			if err != nil {
				t.Fatal(err)
			}
			defer impatient.Close()
			s, err := woo.New(impatient, "wp_", woo.Options{Now: f.clock.Now, Retries: 2})
			if err != nil {
				t.Fatal(err)
			}
			tx, err := f.DB.Begin()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec("SELECT id FROM wp_wc_orders WHERE id = ? FOR UPDATE", id); err != nil {
				t.Fatal(err)
			}
			time.AfterFunc(hold, func() { tx.Rollback() })
			res, err := s.ApplyOrder(context.Background(), paidUpdate(id, "ev"))
			if hold < 2*time.Second {
				if err != nil || !res.Changed {
					t.Fatalf("ApplyOrder = %+v, %v; want success after a retry", res, err)
				}
				return
			}
			if !errors.Is(err, bridge.ErrUnavailable) {
				t.Fatalf("err = %v, want ErrUnavailable", err)
			}
		})
	}
}
