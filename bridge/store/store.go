// Package store owns wcbridge's own tables in the WordPress database
// (payments, callbacks, the outbox to WordPress and pushed settings) and their
// embedded migrations. Every table name carries the WordPress table prefix and
// "wcbridge_"; WooCommerce's own tables belong to package woo.
//
// All methods are safe for several sidecar replicas sharing one database:
// uniqueness is enforced by indexes, work is handed out by leases taken with
// one conditional UPDATE, and payment changes run under a row lock.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-sql-driver/mysql"
	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/mysqlkit"
)

// Store implements the core's storage interfaces on MySQL/MariaDB.
type Store struct {
	db     *sql.DB
	prefix string
	now    func() time.Time
	log    *slog.Logger
	sealer *Sealer
	secret func(name string) bool
	carry  carriers // writes waiting to ride an apply's commit (ride.go)
	// deferred holds, per transaction shared by several updates
	// (UpdatePayments), the inserts written at its end: *sql.Tx to
	// *mysqlkit.Deferred.
	deferred sync.Map

	// Quoted table names, built once from the validated prefix.
	migrations, payments, callbacks, outbox, settings, requests string
}

var (
	_ bridge.Payments  = (*Store)(nil)
	_ bridge.Callbacks = (*Store)(nil)
	_ bridge.Outbox    = (*Store)(nil)
)

// Options configures a Store.
type Options struct {
	Now    func() time.Time // clock; time.Now when nil
	Logger *slog.Logger     // discarded when nil
	// Sealer encrypts secret settings at rest; nil refuses to store them.
	Sealer *Sealer
	// Secret tells which settings are secrets (encrypted at rest); nil: none.
	Secret func(name string) bool
}

// Open returns a Store on db for the WordPress table prefix (e.g. "wp_").
// The DSN must have parseTime=true; times are stored and read as UTC.
func Open(db *sql.DB, prefix string, o Options) (*Store, error) {
	if db == nil {
		return nil, errors.New("open store: nil db")
	}
	if err := mysqlkit.ValidPrefix(prefix); err != nil {
		return nil, err
	}
	s := &Store{db: db, prefix: prefix, now: o.Now, log: o.Logger, sealer: o.Sealer, secret: o.Secret}
	if s.secret == nil {
		s.secret = func(string) bool { return false }
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.migrations = s.table("migrations")
	s.payments = s.table("payments")
	s.callbacks = s.table("callbacks")
	s.outbox = s.table("outbox")
	s.settings = s.table("settings")
	s.requests = s.table("requests")
	return s, nil
}

func (s *Store) table(name string) string { return "`" + s.prefix + "wcbridge_" + name + "`" }

// Prefix returns the WordPress table prefix the store was opened with.
func (s *Store) Prefix() string { return s.prefix }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping database: %w", dbError(err))
	}
	return nil
}

// stamp returns t in UTC at the microsecond precision of DATETIME(6), so
// what is written reads back equal (MariaDB truncates, MySQL rounds).
func stamp(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// nowUTC is the store's clock at column precision.
func (s *Store) nowUTC() time.Time { return stamp(s.now()) }

// Leases: a replica holds what it claimed (a payment to look at, a callback
// to process, a notification to deliver) until lease_until, and writes its
// lease into lease_owner. Each claim is a lease of its own ("owner/random",
// see bridge.NewLease), so a result is recorded only by the claim that still
// holds the row, never by an older claim of the same replica whose lease
// ran out and was taken by someone else. Lease times are the database's
// clock (UTC_TIMESTAMP(6)), never a replica's, so replicas on different
// hosts need no synchronised clocks.

// leaseFree is the condition of a row nobody holds.
const leaseFree = "(lease_until IS NULL OR lease_until <= UTC_TIMESTAMP(6))"

// leaseEnd is the SQL for the end of a lease of d taken now. (DATE_ADD,
// not "+ INTERVAL": the embedded engine of the tests gets the latter wrong
// for microseconds.)
func leaseEnd(d time.Duration) string {
	return fmt.Sprintf("DATE_ADD(UTC_TIMESTAMP(6), INTERVAL %d MICROSECOND)", d.Microseconds())
}

// checkLease validates a lease id.
func checkLease(lease string) error {
	if lease == "" || len(lease) > 64 {
		return bridge.Errorf(bridge.EINVALID, "lease must have 1 to 64 characters")
	}
	return nil
}

// inIDs returns "id IN (?, ...)" and its arguments.
func inIDs(ids []int64) (string, []any) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return "id IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ") + ")", args
}

// dbTime scans a DATETIME(6) column holding UTC, whatever loc the DSN
// names (mysqlkit.Time); dt writes one (the zero time is NULL).
type dbTime = mysqlkit.Time

// dt wraps t as a query argument.
func dt(t time.Time) mysqlkit.UTC { return mysqlkit.UTC(t) }

// clip cuts s to at most n runes so a long text fits its VARCHAR(n) column
// under strict SQL mode instead of failing the whole write.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n])
}

// dbError turns driver errors into core sentinels (mysqlkit.Err): a
// duplicate key into a conflict, a lost connection, a lock timeout or a
// deadlock into ErrUnavailable (retry later).
func dbError(err error) error { return mysqlkit.Err(err) }

// isDup reports whether err is a duplicate-key error.
func isDup(err error) bool { return mysqlkit.IsDup(err) }

// isDupColumn reports whether err is an ALTER TABLE adding a column that
// exists: the migration ran before and its record was lost. The embedded
// engine of the tests and the demo reports it as a generic error (1105).
func isDupColumn(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && (me.Number == mysqlkit.ErrDupColumn ||
		me.Number == 1105 && strings.HasPrefix(me.Message, "Column ") && strings.HasSuffix(me.Message, " already exists"))
}

// rollback ends tx after a failure; its own error adds nothing.
func rollback(tx *sql.Tx) { _ = tx.Rollback() }
