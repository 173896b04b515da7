package woo

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/wcbridge/wcbridge/bridge"
)

// Report is what Check found out about the store.
type Report struct {
	Prefix   string
	Mode     bridge.StorageMode // "" when it could not be detected
	Timezone string             // the site timezone, e.g. "Europe/Berlin" or "UTC+5.5"
	Version  string             // woocommerce_version
}

// columns the store reads or writes, per table; Check compares them with
// information_schema so a store that lacks one fails at start, not mid-payment.
var columns = map[string][]string{
	"options":                    {"option_name", "option_value"},
	"posts":                      {"ID", "post_type", "post_status", "post_date_gmt", "post_modified", "post_modified_gmt", "post_password", "comment_count"},
	"postmeta":                   {"meta_id", "post_id", "meta_key", "meta_value"},
	"comments":                   {"comment_ID", "comment_post_ID", "comment_author", "comment_author_email", "comment_author_url", "comment_author_IP", "comment_date", "comment_date_gmt", "comment_content", "comment_karma", "comment_approved", "comment_agent", "comment_type", "comment_parent", "user_id"},
	"commentmeta":                {"meta_id", "comment_id", "meta_key", "meta_value"},
	"woocommerce_order_items":    {"order_item_id", "order_item_name", "order_item_type", "order_id"},
	"woocommerce_order_itemmeta": {"meta_id", "order_item_id", "meta_key", "meta_value"},
	"wc_product_meta_lookup":     {"product_id", "virtual", "downloadable"},
	"wc_orders":                  {"id", "status", "currency", "type", "total_amount", "billing_email", "date_created_gmt", "date_updated_gmt", "payment_method", "payment_method_title", "transaction_id"},
	"wc_order_operational_data":  {"order_id", "order_key", "date_paid_gmt", "date_completed_gmt"},
	"wc_orders_meta":             {"id", "order_id", "meta_key", "meta_value"},
	"wc_order_stats":             {"order_id", "status", "date_paid", "date_completed"},
}

// required lists the tables a mode cannot work without. wc_order_stats is
// optional (analytics is updated when present); in posts+sync the HPOS copy
// is mirrored only when its tables exist.
func required(m bridge.StorageMode) []string {
	t := []string{"options", "posts", "postmeta", "comments", "commentmeta", "woocommerce_order_items", "woocommerce_order_itemmeta", "wc_product_meta_lookup"}
	if isHPOS(m) {
		t = append(t, hposTables...)
	}
	return t
}

// Check inspects the store and reports every problem at once: missing
// options table or options, a mode whose tables are not created, missing
// tables or columns for the mode, an unreadable site timezone.
func (s *Store) Check(ctx context.Context) (Report, []error) {
	r := Report{Prefix: s.prefix}
	tables, err := s.tableSet(ctx)
	if err != nil {
		return r, []error{err}
	}
	var errs []error
	if !tables["options"] {
		errs = append(errs, fmt.Errorf("table %s missing: %w", s.t("options"), bridge.ErrStorageUnsupported))
	}
	mode := s.opts.Mode
	if tables["options"] {
		opts, err := s.options(ctx, optHPOSEnabled, optHPOSSync, optHPOSCreated, "woocommerce_version", "timezone_string", "gmt_offset")
		if err != nil {
			return r, []error{err}
		}
		if mode == "" {
			mode = modeOf(opts[optHPOSEnabled], opts[optHPOSSync])
		}
		r.Version = opts["woocommerce_version"]
		if r.Version == "" {
			errs = append(errs, fmt.Errorf("option woocommerce_version missing: is WooCommerce installed with prefix %q?", s.prefix))
		}
		if isHPOS(mode) && opts[optHPOSCreated] != "yes" {
			errs = append(errs, fmt.Errorf("storage %s but %s is not yes: %w", mode, optHPOSCreated, bridge.ErrStorageUnsupported))
		}
		if loc, err := location(opts["timezone_string"], opts["gmt_offset"]); err != nil {
			errs = append(errs, err)
		} else {
			r.Timezone = loc.String()
		}
	}
	r.Mode = mode
	check := required(mode)
	for _, name := range check {
		if !tables[name] && name != "options" {
			errs = append(errs, fmt.Errorf("table %s missing for storage %s: %w", s.t(name), mode, bridge.ErrStorageUnsupported))
		}
	}
	for _, name := range []string{"wc_order_stats", "wc_orders", "wc_order_operational_data", "wc_orders_meta"} {
		if tables[name] && !slices.Contains(check, name) {
			check = append(check, name)
		}
	}
	have, err := s.columnSet(ctx)
	if err != nil {
		return r, append(errs, err)
	}
	for _, name := range check {
		if !tables[name] {
			continue
		}
		for _, col := range columns[name] {
			if !have[name][strings.ToLower(col)] {
				errs = append(errs, fmt.Errorf("column %s.%s missing: %w", s.t(name), col, bridge.ErrStorageUnsupported))
			}
		}
	}
	return r, errs
}

// columnSet lists the lower-cased columns of the prefixed tables.
func (s *Store) columnSet(ctx context.Context) (map[string]map[string]bool, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = DATABASE()")
	if err != nil {
		return nil, fmt.Errorf("woo: list columns: %w", mapErr(err))
	}
	defer rows.Close()
	out := map[string]map[string]bool{}
	for rows.Next() {
		var table, col string
		if err := rows.Scan(&table, &col); err != nil {
			return nil, fmt.Errorf("woo: list columns: %w", mapErr(err))
		}
		if rest, ok := strings.CutPrefix(table, s.prefix); ok {
			if out[rest] == nil {
				out[rest] = map[string]bool{}
			}
			out[rest][strings.ToLower(col)] = true
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("woo: list columns: %w", mapErr(err))
	}
	return out, nil
}

// DetectPrefixes returns the table prefixes of the current database that
// hold a WooCommerce install: an {prefix}options table with a
// woocommerce_version or woocommerce_db_version row. A multisite has one
// per site (wp_, wp_2_, ...).
func DetectPrefixes(ctx context.Context, db *sql.DB) ([]string, error) {
	// Candidates are tables named *options with an option_name column, so
	// the queries below cannot fail on a table that merely ends in options.
	rows, err := db.QueryContext(ctx, "SELECT table_name FROM information_schema.columns WHERE table_schema = DATABASE() AND column_name = 'option_name'")
	if err != nil {
		return nil, fmt.Errorf("woo: detect prefixes: %w", mapErr(err))
	}
	var candidates []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return nil, fmt.Errorf("woo: detect prefixes: %w", mapErr(err))
		}
		if p, ok := strings.CutSuffix(name, "options"); ok && ValidPrefix(p) == nil {
			candidates = append(candidates, p)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("woo: detect prefixes: %w", mapErr(err))
	}
	slices.Sort(candidates)
	var found []string
	for _, p := range candidates {
		var n int
		err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+p+"options WHERE option_name IN ('woocommerce_version', 'woocommerce_db_version')").Scan(&n)
		if err != nil {
			return nil, fmt.Errorf("woo: detect prefixes: %w", mapErr(err))
		}
		if n > 0 {
			found = append(found, p)
		}
	}
	return found, nil
}

// ErrNotInstalled means the database holds no WooCommerce install under the
// configured prefix.
var ErrNotInstalled = errors.New("no WooCommerce install")

// RequireInstall returns nil when the database holds a WooCommerce install
// under the store's prefix, else an error wrapping ErrNotInstalled that
// names the database and the prefix and says what is there instead, so a
// wrong database name or prefix stops the sidecar with a reason rather than
// letting it create its tables in the wrong place.
func (s *Store) RequireInstall(ctx context.Context) error {
	var dbName sql.NullString
	if err := s.db.QueryRowContext(ctx, "SELECT DATABASE()").Scan(&dbName); err != nil {
		return fmt.Errorf("woo: current database: %w", mapErr(err))
	}
	tables, err := s.tableSet(ctx)
	if err != nil {
		return err
	}
	where := fmt.Sprintf("database %q has no WooCommerce tables with prefix %q", dbName.String, s.prefix)
	if !tables["options"] {
		found, err := s.foundInstead(ctx)
		if err != nil {
			return err
		}
		return fmt.Errorf("%w: %s: no table %s; %s", ErrNotInstalled, where, s.t("options"), found)
	}
	opts, err := s.options(ctx, "woocommerce_version", "woocommerce_db_version")
	if err != nil {
		return err
	}
	if opts["woocommerce_version"] == "" && opts["woocommerce_db_version"] == "" {
		return fmt.Errorf("%w: %s: %s exists but has no woocommerce_version (WordPress without WooCommerce, or WooCommerce never activated)", ErrNotInstalled, where, s.t("options"))
	}
	return nil
}

// foundInstead says what the database holds: WooCommerce under other
// prefixes, WordPress-like tables, other tables, or nothing.
func (s *Store) foundInstead(ctx context.Context) (string, error) {
	prefixes, err := DetectPrefixes(ctx, s.db)
	if err != nil {
		return "", err
	}
	if len(prefixes) > 0 {
		return fmt.Sprintf("WooCommerce is installed there with prefix %s (set database.table_prefix)", strings.Join(prefixes, ", ")), nil
	}
	rows, err := s.db.QueryContext(ctx, "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY table_name")
	if err != nil {
		return "", fmt.Errorf("woo: list tables: %w", mapErr(err))
	}
	defer rows.Close()
	var n int
	var others []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return "", fmt.Errorf("woo: list tables: %w", mapErr(err))
		}
		n++
		if p, ok := strings.CutSuffix(name, "options"); ok && p != "" && ValidPrefix(p) == nil {
			others = append(others, p)
		}
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("woo: list tables: %w", mapErr(err))
	}
	switch {
	case n == 0:
		return "the database is empty (wrong database name, or WordPress not installed yet)", nil
	case len(others) > 0:
		return fmt.Sprintf("tables with prefix %s exist, without WooCommerce", strings.Join(others, ", ")), nil
	}
	return fmt.Sprintf("it has %d table(s), none of them WordPress's", n), nil
}

// Ready reports whether orders can still be read and written: WooCommerce's
// options answer with its version and the order table of the storage mode
// exists. It is cheap enough for every readiness probe.
func (s *Store) Ready(ctx context.Context) error {
	opts, err := s.options(ctx, "woocommerce_version", optHPOSEnabled)
	if err != nil {
		return fmt.Errorf("woocommerce: %w", err)
	}
	if opts["woocommerce_version"] == "" {
		return fmt.Errorf("woocommerce: %s has no woocommerce_version (WooCommerce removed?)", s.t("options"))
	}
	orders := s.t("posts")
	if isHPOS(s.opts.Mode) || (s.opts.Mode == "" && opts[optHPOSEnabled] == "yes") {
		orders = s.t("wc_orders")
	}
	if _, err := s.db.ExecContext(ctx, "SELECT 1 FROM "+orders+" LIMIT 0"); err != nil {
		return fmt.Errorf("woocommerce: order table %s: %w", orders, mapErr(err))
	}
	return nil
}
