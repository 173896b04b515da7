package wootest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wcbridge/wcbridge/bridge"
)

// Store is a fresh database holding an installed WooCommerce store, for tests.
type Store struct {
	*DB
	Mode   bridge.StorageMode
	Prefix string
	Loc    *time.Location // the site timezone
}

// NewStore opens a fresh database and installs WooCommerce's tables in mode
// with prefix.
func NewStore(t testing.TB, mode bridge.StorageMode, prefix string, opts ...InstallOption) *Store {
	t.Helper()
	cfg := installConfig{timezone: "UTC", gmtOffset: "0"}
	for _, o := range opts {
		o(&cfg)
	}
	loc, err := cfg.location()
	if err != nil {
		t.Fatal(err)
	}
	db := Open(t)
	if err := Install(context.Background(), db.DB, mode, prefix, opts...); err != nil {
		t.Fatal(err)
	}
	return &Store{DB: db, Mode: mode, Prefix: prefix, Loc: loc}
}

func (c installConfig) location() (*time.Location, error) {
	if c.timezone != "" {
		return time.LoadLocation(c.timezone)
	}
	h, err := strconv.ParseFloat(c.gmtOffset, 64)
	if err != nil {
		return nil, fmt.Errorf("gmt_offset %q: %w", c.gmtOffset, err)
	}
	return time.FixedZone("", int(h*3600)), nil
}

// SeedOrder seeds an order in the store's mode and timezone.
func (s *Store) SeedOrder(t testing.TB, o OrderSeed) int64 {
	t.Helper()
	if o.TimeZone == nil {
		o.TimeZone = s.Loc
	}
	id, err := Seed(context.Background(), s.DB.DB, s.Mode, s.Prefix, o)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// Exec runs a statement; "{p}" in query stands for the table prefix.
func (s *Store) Exec(t testing.TB, query string, args ...any) {
	t.Helper()
	if _, err := s.DB.Exec(strings.ReplaceAll(query, "{p}", s.Prefix), args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// Rows returns every row of a query as column → text ("NULL" for NULL, dates
// as "2006-01-02 15:04:05"); "{p}" in query stands for the table prefix.
func (s *Store) Rows(t testing.TB, query string, args ...any) []map[string]string {
	t.Helper()
	rows, err := s.DB.Query(strings.ReplaceAll(query, "{p}", s.Prefix), args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := make(map[string]string, len(cols))
		for i, c := range cols {
			row[c] = text(vals[i])
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// Row is Rows for a query that must return exactly one row.
func (s *Store) Row(t testing.TB, query string, args ...any) map[string]string {
	t.Helper()
	rows := s.Rows(t, query, args...)
	if len(rows) != 1 {
		t.Fatalf("%s %v: %d rows, want 1", query, args, len(rows))
	}
	return rows[0]
}

// Value is Row for a query of one column.
func (s *Store) Value(t testing.TB, query string, args ...any) string {
	t.Helper()
	for _, v := range s.Row(t, query, args...) {
		return v
	}
	t.Fatalf("%s: no column", query)
	return ""
}

// Count returns COUNT(*) of table (prefixed) under where.
func (s *Store) Count(t testing.TB, table, where string, args ...any) int {
	t.Helper()
	n, err := strconv.Atoi(s.Value(t, "SELECT COUNT(*) FROM {p}"+table+" WHERE "+where, args...))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// PostMeta returns the values of a post's meta key in meta_id order.
func (s *Store) PostMeta(t testing.TB, postID int64, key string) []string {
	t.Helper()
	return column(s.Rows(t, "SELECT meta_value AS v FROM {p}postmeta WHERE post_id = ? AND meta_key = ? ORDER BY meta_id", postID, key))
}

// OrderMeta returns the values of an HPOS order meta key in id order.
func (s *Store) OrderMeta(t testing.TB, orderID int64, key string) []string {
	t.Helper()
	return column(s.Rows(t, "SELECT meta_value AS v FROM {p}wc_orders_meta WHERE order_id = ? AND meta_key = ? ORDER BY id", orderID, key))
}

func column(rows []map[string]string) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r["v"]
	}
	return out
}

func text(v any) string {
	switch v := v.(type) {
	case nil:
		return "NULL"
	case []byte:
		return string(v)
	case string:
		return v
	case time.Time:
		return v.Format(dateFormat)
	case int64:
		return strconv.FormatInt(v, 10)
	default:
		return fmt.Sprint(v)
	}
}
