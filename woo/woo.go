// Package woo reads WooCommerce orders from, and applies payment outcomes to,
// WooCommerce's own MySQL tables, in whichever of the four storage modes the
// store runs (posts, posts+sync, hpos+sync, hpos). We never migrate these
// tables; WooCommerce owns them.
package woo

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // the site timezone must resolve on hosts without zoneinfo

	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/mysqlkit"
)

var _ bridge.Orders = (*Store)(nil)

// Options configures a Store.
type Options struct {
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Mode forces a storage mode; empty detects it from the options table.
	Mode bridge.StorageMode
	// ModeTTL is how long a detected mode is trusted before the options are
	// read again (an admin can switch storage at any time); default 30s.
	ModeTTL time.Duration
	// PaidStatus is the status of a paid outcome when the update does not
	// name one: "" decides from the line items like WooCommerce (completed
	// when every item is virtual and downloadable, else processing);
	// bridge.StatusProcessing or bridge.StatusCompleted fixes it.
	PaidStatus string
	// Retries is how many times a transaction that hit a deadlock or lock
	// wait timeout is retried; default 2.
	Retries int
}

// Store reads and writes WooCommerce orders with direct SQL.
type Store struct {
	db     *sql.DB
	prefix string
	opts   Options

	mu       sync.Mutex
	detected *detection
}

// detection is what the options table and information_schema said.
type detection struct {
	mode   bridge.StorageMode
	site   *site           // timezone and note e-mail, re-read with the mode
	tables map[string]bool // unprefixed names present
	at     time.Time
}

// ValidPrefix reports whether prefix is a table prefix WordPress accepts.
// Table names are built by concatenation, so nothing else may pass.
func ValidPrefix(prefix string) error { return mysqlkit.ValidPrefix(prefix) }

// New returns a Store on db for the tables named with prefix (e.g. "wp_").
func New(db *sql.DB, prefix string, o Options) (*Store, error) {
	if err := ValidPrefix(prefix); err != nil {
		return nil, fmt.Errorf("woo: %w", err)
	}
	switch o.Mode {
	case "", bridge.StoragePosts, bridge.StoragePostsSync, bridge.StorageHPOSSync, bridge.StorageHPOS:
	default:
		return nil, fmt.Errorf("woo: %w", bridge.Errorf(bridge.EINVALID, "unknown storage mode %q", o.Mode))
	}
	switch o.PaidStatus {
	case "", bridge.StatusProcessing, bridge.StatusCompleted:
	default:
		return nil, fmt.Errorf("woo: %w", bridge.Errorf(bridge.EINVALID, "paid status %q: want processing or completed", o.PaidStatus))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ModeTTL <= 0 {
		o.ModeTTL = 30 * time.Second
	}
	if o.Retries <= 0 {
		o.Retries = 2
	}
	return &Store{db: db, prefix: prefix, opts: o}, nil
}

// Prefix returns the table prefix.
func (s *Store) Prefix() string { return s.prefix }

// t returns the prefixed name of a WooCommerce table.
func (s *Store) t(name string) string { return s.prefix + name }

// Option names (docs/woocommerce-tables.md §1).
const (
	optHPOSEnabled = "woocommerce_custom_orders_table_enabled"
	optHPOSSync    = "woocommerce_custom_orders_table_data_sync_enabled"
	optHPOSCreated = "woocommerce_custom_orders_table_created"
)

var hposTables = []string{"wc_orders", "wc_order_operational_data", "wc_orders_meta"}

// StorageMode reads the storage mode from the options table now, refusing an
// HPOS mode whose tables WooCommerce has not created.
func (s *Store) StorageMode(ctx context.Context) (bridge.StorageMode, error) {
	d, err := s.detect(ctx)
	if err != nil {
		return "", err
	}
	return d.mode, nil
}

// mode returns the forced mode, or the detected one, re-detected after
// ModeTTL, along with the tables present.
func (s *Store) mode(ctx context.Context) (*detection, error) {
	s.mu.Lock()
	d := s.detected
	s.mu.Unlock()
	if d != nil && s.opts.Now().Sub(d.at) < s.opts.ModeTTL {
		return d, nil
	}
	return s.detect(ctx)
}

// CurrentMode is the storage mode, detected again when the last detection
// is older than ModeTTL. A caller about to apply orders in a transaction of
// its own (ApplyOrderTx) calls it first: inside the transaction the last
// detection is used as it is.
func (s *Store) CurrentMode(ctx context.Context) (bridge.StorageMode, error) {
	d, err := s.mode(ctx)
	if err != nil {
		return "", err
	}
	return d.mode, nil
}

// modeInTx is the storage mode for work inside a caller's transaction: the
// last detection, however old, so that no second connection is taken
// while the transaction holds one (with a small pool, every connection may
// be held by such a transaction). Only before any detection does it detect.
func (s *Store) modeInTx(ctx context.Context) (*detection, error) {
	s.mu.Lock()
	d := s.detected
	s.mu.Unlock()
	if d != nil {
		return d, nil
	}
	return s.mode(ctx)
}

func (s *Store) detect(ctx context.Context) (*detection, error) {
	tables, err := s.tableSet(ctx)
	if err != nil {
		return nil, err
	}
	if !tables["options"] {
		return nil, fmt.Errorf("woo: detect storage: table %s missing: %w", s.t("options"), bridge.ErrStorageUnsupported)
	}
	opts, err := s.options(ctx, optHPOSEnabled, optHPOSSync, optHPOSCreated)
	if err != nil {
		return nil, fmt.Errorf("woo: detect storage: %w", err)
	}
	st, err := siteSettings(ctx, s.db, s.t("options"))
	if err != nil {
		return nil, fmt.Errorf("woo: detect storage: %w", err)
	}
	mode := modeOf(opts[optHPOSEnabled], opts[optHPOSSync])
	if s.opts.Mode != "" {
		mode = s.opts.Mode
	}
	if mode == bridge.StorageHPOS || mode == bridge.StorageHPOSSync {
		if opts[optHPOSCreated] != "yes" {
			return nil, fmt.Errorf("woo: storage %s but %s is not yes: %w", mode, optHPOSCreated, bridge.ErrStorageUnsupported)
		}
		var missing []string
		for _, name := range hposTables {
			if !tables[name] {
				missing = append(missing, s.t(name))
			}
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("woo: storage %s but tables missing: %s: %w", mode, strings.Join(missing, ", "), bridge.ErrStorageUnsupported)
		}
	}
	d := &detection{mode: mode, site: st, tables: tables, at: s.opts.Now()}
	s.mu.Lock()
	s.detected = d
	s.mu.Unlock()
	return d, nil
}

// modeOf decides the mode from the two option values (docs/woocommerce-tables.md §1): both
// are compared strictly with "yes", as WooCommerce does.
func modeOf(enabled, sync string) bridge.StorageMode {
	switch {
	case enabled == "yes" && sync == "yes":
		return bridge.StorageHPOSSync
	case enabled == "yes":
		return bridge.StorageHPOS
	case sync == "yes":
		return bridge.StoragePostsSync
	default:
		return bridge.StoragePosts
	}
}

// tableSet lists the tables of the current database that carry the prefix,
// without it. The prefix is matched in Go: in LIKE, "_" is a wildcard.
func (s *Store) tableSet(ctx context.Context) (map[string]bool, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()")
	if err != nil {
		return nil, fmt.Errorf("woo: list tables: %w", mapErr(err))
	}
	defer rows.Close()
	set := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("woo: list tables: %w", mapErr(err))
		}
		if rest, ok := strings.CutPrefix(name, s.prefix); ok {
			set[rest] = true
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("woo: list tables: %w", mapErr(err))
	}
	return set, nil
}

// querier is what reads need from *sql.DB and *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// options reads option rows by name; missing ones are absent from the map.
func (s *Store) options(ctx context.Context, names ...string) (map[string]string, error) {
	return optionsIn(ctx, s.db, s.t("options"), names...)
}

func optionsIn(ctx context.Context, q querier, table string, names ...string) (map[string]string, error) {
	args := make([]any, len(names))
	for i, n := range names {
		args[i] = n
	}
	rows, err := q.QueryContext(ctx, "SELECT option_name, option_value FROM "+table+" WHERE option_name IN ("+placeholders(len(names))+")", args...)
	if err != nil {
		return nil, fmt.Errorf("read options: %w", mapErr(err))
	}
	defer rows.Close()
	out := make(map[string]string, len(names))
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, fmt.Errorf("read options: %w", mapErr(err))
		}
		out[k] = v
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read options: %w", mapErr(err))
	}
	return out, nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// site is what the store needs of WordPress's general settings.
type site struct {
	loc   *time.Location
	email string // comment_author_email of system notes
}

// siteSettings reads the site timezone (timezone_string, else gmt_offset)
// and the host of siteurl.
func siteSettings(ctx context.Context, q querier, table string) (*site, error) {
	opts, err := optionsIn(ctx, q, table, "timezone_string", "gmt_offset", "siteurl")
	if err != nil {
		return nil, err
	}
	loc, err := location(opts["timezone_string"], opts["gmt_offset"])
	if err != nil {
		return nil, err
	}
	return &site{loc: loc, email: noteEmail(opts["siteurl"])}, nil
}

func location(tz, offset string) (*time.Location, error) {
	if tz != "" {
		loc, err := time.LoadLocation(tz)
		if err != nil {
			return nil, fmt.Errorf("site timezone %q: %w", tz, err)
		}
		return loc, nil
	}
	if offset == "" {
		return time.UTC, nil
	}
	h, err := strconv.ParseFloat(offset, 64)
	if err != nil {
		return nil, fmt.Errorf("site gmt_offset %q: %w", offset, err)
	}
	secs := int(h * 3600)
	name := "UTC"
	if secs != 0 {
		name = fmt.Sprintf("UTC%+g", h)
	}
	return time.FixedZone(name, secs), nil
}

// noteEmail is the author e-mail WooCommerce gives system notes: woocommerce@
// and the host without "www.", or woocommerce@noreply.com without a host.
func noteEmail(siteURL string) string {
	host := siteURL
	if i := strings.Index(host, "://"); i >= 0 {
		host = host[i+3:]
	}
	if i := strings.IndexAny(host, "/?#"); i >= 0 {
		host = host[:i]
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimPrefix(strings.ToLower(host), "www.")
	if host == "" {
		return "woocommerce@noreply.com"
	}
	return "woocommerce@" + host
}

// mapErr turns driver errors into the core's sentinels where a caller acts
// on them: mysqlkit.Err's (ErrUnavailable to retry later, a conflict), and a
// missing table or column is ErrStorageUnsupported.
func mapErr(err error) error {
	switch mysqlkit.Number(err) {
	case mysqlkit.ErrNoSuchTable, mysqlkit.ErrBadField:
		return fmt.Errorf("%w: %w", bridge.ErrStorageUnsupported, err)
	}
	return mysqlkit.Err(err)
}
