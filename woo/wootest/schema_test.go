package wootest

import (
	"context"
	"testing"

	"github.com/wcbridge/wcbridge/bridge"
)

func TestInstallCreatesEveryTable(t *testing.T) {
	for _, prefix := range []string{"wp_", "shop7_"} {
		t.Run("prefix="+prefix, func(t *testing.T) {
			db := Open(t)
			if err := Install(context.Background(), db.DB, bridge.StorageHPOS, prefix); err != nil {
				t.Fatal(err)
			}
			for _, name := range Tables() {
				var n int
				err := db.QueryRow("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?", prefix+name).Scan(&n)
				if err != nil {
					t.Fatal(err)
				}
				if n != 1 {
					t.Errorf("table %s%s: found %d, want 1", prefix, name, n)
				}
			}
			if got := len(Tables()); got != 15 {
				t.Errorf("Tables() has %d names, want 15", got)
			}
		})
	}
}

func TestSeedWritesTheCopiesOfTheMode(t *testing.T) {
	tests := []struct {
		mode              bridge.StorageMode
		postType          string
		hposRows, metaMin int
	}{
		{bridge.StoragePosts, "shop_order", 0, 20},
		{bridge.StoragePostsSync, "shop_order", 1, 20},
		{bridge.StorageHPOSSync, "shop_order", 1, 20},
		{bridge.StorageHPOS, "shop_order_placehold", 1, 0},
	}
	for _, tt := range tests {
		t.Run("mode="+string(tt.mode), func(t *testing.T) {
			s := NewStore(t, tt.mode, "wp_")
			id := s.SeedOrder(t, OrderSeed{Total: "0.00000001", Items: []ItemSeed{{Name: "E-book", Virtual: true, Downloadable: true}}})
			post := s.Row(t, "SELECT post_type, post_status, post_password FROM {p}posts WHERE ID = ?", id)
			if post["post_type"] != tt.postType {
				t.Errorf("post_type = %q, want %q", post["post_type"], tt.postType)
			}
			if got := s.Count(t, "wc_orders", "id = ?", id); got != tt.hposRows {
				t.Errorf("wc_orders rows = %d, want %d", got, tt.hposRows)
			}
			if got := s.Count(t, "postmeta", "post_id = ?", id); (tt.metaMin == 0) != (got == 0) || got < tt.metaMin {
				t.Errorf("postmeta rows = %d, want >= %d", got, tt.metaMin)
			}
			if tt.hposRows == 1 {
				if got := s.Value(t, "SELECT total_amount FROM {p}wc_orders WHERE id = ?", id); got != "0.00000001" {
					t.Errorf("total_amount = %q", got)
				}
				key := s.Value(t, "SELECT order_key FROM {p}wc_order_operational_data WHERE order_id = ?", id)
				if len(key) != len("wc_order_")+13 || key[:9] != "wc_order_" {
					t.Errorf("order key %q", key)
				}
			}
			if got := s.Value(t, "SELECT status FROM {p}wc_order_stats WHERE order_id = ?", id); got != "wc-pending" {
				t.Errorf("stats status = %q", got)
			}
			if got := s.Count(t, "wc_product_meta_lookup", "`virtual` = 1 AND downloadable = 1"); got != 1 {
				t.Errorf("virtual+downloadable products = %d, want 1", got)
			}
		})
	}
}
