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
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-sql-driver/mysql"
	"github.com/wcbridge/wcbridge/bridge"
)

// Store implements the core's storage interfaces on MySQL/MariaDB.
type Store struct {
	db     *sql.DB
	prefix string
	now    func() time.Time
	log    *slog.Logger
	sealer *Sealer
	secret func(name string) bool

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

// validPrefix is what WordPress itself accepts for $table_prefix; the prefix
// is spliced into SQL as an identifier, so nothing else may pass.
var validPrefix = regexp.MustCompile(`^[A-Za-z0-9_]{1,40}$`)

// Open returns a Store on db for the WordPress table prefix (e.g. "wp_").
// The DSN must have parseTime=true; times are stored and read as UTC.
func Open(db *sql.DB, prefix string, o Options) (*Store, error) {
	if db == nil {
		return nil, errors.New("open store: nil db")
	}
	if !validPrefix.MatchString(prefix) {
		return nil, bridge.Errorf(bridge.EINVALID, "table prefix must match %s", validPrefix)
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

// dbTime is a DATETIME(6) column holding UTC, whatever loc the DSN names:
// written as text (the driver would convert a time.Time to the DSN's loc)
// and read back by taking the wall clock as UTC. The zero time is NULL.
type dbTime struct{ time.Time }

const dbTimeLayout = "2006-01-02 15:04:05.999999"

// dt wraps t as a query argument.
func dt(t time.Time) dbTime { return dbTime{t} }

// Value implements driver.Valuer.
func (t dbTime) Value() (driver.Value, error) {
	if t.IsZero() {
		return nil, nil
	}
	return stamp(t.Time).Format(dbTimeLayout), nil
}

// Scan implements sql.Scanner.
func (t *dbTime) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		t.Time = time.Time{}
	case time.Time:
		t.Time = time.Date(v.Year(), v.Month(), v.Day(), v.Hour(), v.Minute(), v.Second(), v.Nanosecond(), time.UTC)
	case []byte:
		return t.parse(string(v))
	case string:
		return t.parse(v)
	default:
		return fmt.Errorf("scan %T into a time", src)
	}
	return nil
}

func (t *dbTime) parse(s string) error {
	v, err := time.ParseInLocation(dbTimeLayout, s, time.UTC)
	if err != nil {
		return fmt.Errorf("scan time: %w", err)
	}
	t.Time = v
	return nil
}

// ptr returns the time, or nil for NULL.
func (t dbTime) ptr() *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.Time
	return &u
}

// clip cuts s to at most n runes so a long text fits its VARCHAR(n) column
// under strict SQL mode instead of failing the whole write.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n])
}

// MySQL server error numbers the store reacts to.
const (
	errDupEntry        = 1062
	errDupColumn       = 1060
	errLockWaitTimeout = 1205
	errDeadlock        = 1213
	errTooManyConns    = 1040
	errServerShutdown  = 1053
	errReadOnly        = 1290
)

// errConflict is the generic conflict for a duplicate key the caller did not
// anticipate (e.g. a reused reference).
var errConflict = &bridge.Error{Code: bridge.ECONFLICT, Message: "already exists"}

// dbError turns driver errors into core sentinels: a duplicate key into a
// conflict, a lost connection, a lock timeout or a deadlock into
// ErrUnavailable (retry later). The driver's text stays in the chain for
// logs; bridge.ErrorMessage never shows it to callers.
func dbError(err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case errDupEntry:
			return &bridge.Error{Code: errConflict.Code, Message: errConflict.Message, Err: err}
		case errLockWaitTimeout, errDeadlock, errTooManyConns, errServerShutdown, errReadOnly:
			return unavailable(err)
		}
		return err
	}
	var ne net.Error
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, sql.ErrConnDone) || errors.As(err, &ne) {
		return unavailable(err)
	}
	return err
}

func unavailable(err error) error {
	return &bridge.Error{Code: bridge.ErrUnavailable.Code, Message: bridge.ErrUnavailable.Message, Err: err}
}

// isDup reports whether err is a duplicate-key error.
func isDup(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == errDupEntry
}

// isDupColumn reports whether err is an ALTER TABLE adding a column that
// exists: the migration ran before and its record was lost. The embedded
// engine of the tests and the demo reports it as a generic error (1105).
func isDupColumn(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && (me.Number == errDupColumn ||
		me.Number == 1105 && strings.HasPrefix(me.Message, "Column ") && strings.HasSuffix(me.Message, " already exists"))
}

// isDeadlock reports whether err is a deadlock the server resolved by
// rolling our statement back; retrying it is safe.
func isDeadlock(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == errDeadlock
}

// isLockWaitTimeout reports whether err is a lock wait that timed out; the
// transaction is rolled back and may run again.
func isLockWaitTimeout(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == errLockWaitTimeout
}

// rollback ends tx after a failure; its own error adds nothing.
func rollback(tx *sql.Tx) { _ = tx.Rollback() }
