// Package mysqlkit is what the two adapters on the WordPress database
// (bridge/store and woo) share, so both classify a failure alike: the
// table-prefix check, a DATETIME scanner, the retry of a transaction the
// server rolled back, and one mapping of MySQL errors to the core's
// sentinels.
package mysqlkit

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/wcbridge/wcbridge/bridge"
)

var prefixRE = regexp.MustCompile(`^[A-Za-z0-9_]{1,40}$`)

// ValidPrefix reports whether prefix is a table prefix WordPress accepts
// ($table_prefix: letters, digits and underscores). Table names are built by
// concatenation, so nothing else may pass.
func ValidPrefix(prefix string) error {
	if !prefixRE.MatchString(prefix) {
		return bridge.Errorf(bridge.EINVALID, "table prefix %q invalid: want 1-40 of A-Z a-z 0-9 _", prefix)
	}
	return nil
}

// Statements joins statements into one query, which a connection that
// allows several statements per query (multiStatements, as cmd/wcbridge's
// openDB opens it) sends in one round trip. They are separated by ";" and a
// newline, which the driver escapes inside every value it interpolates.
func Statements(stmts ...string) string { return strings.Join(stmts, ";\n") }

// MySQL server error numbers the adapters act on
// (https://mariadb.com/kb/en/mariadb-error-code-reference/).
const (
	ErrTooManyConns    = 1040
	ErrServerShutdown  = 1053
	ErrBadField        = 1054
	ErrDupColumn       = 1060
	ErrDupEntry        = 1062
	ErrNoSuchTable     = 1146
	ErrLockWaitTimeout = 1205
	ErrDeadlock        = 1213
	ErrReadOnly        = 1290
)

// Number returns err's MySQL error number, 0 when it is none.
func Number(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

// IsDup reports whether err is a duplicate-key error.
func IsDup(err error) bool { return Number(err) == ErrDupEntry }

// Retryable reports whether err rolled a transaction back for a reason
// that may be gone when it runs again: a deadlock (the server picked it as
// the victim) or a lock wait timeout.
func Retryable(err error) bool {
	n := Number(err)
	return n == ErrDeadlock || n == ErrLockWaitTimeout
}

// Retry runs fn, a whole transaction, and runs it again up to retries more
// times while it fails with a Retryable error, waiting 20 ms more before
// each attempt. fn must leave nothing behind when it fails.
func Retry(ctx context.Context, retries int, fn func() error) error {
	for attempt := 0; ; attempt++ {
		err := fn()
		if err == nil || !Retryable(err) || attempt >= retries {
			return err
		}
		t := time.NewTimer(time.Duration(attempt+1) * 20 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// Err turns a driver error into the core's sentinels where a caller acts on
// it: a duplicate key is a conflict; a database that is down, busy, full of
// connections, shutting down or read-only, a lost connection, a deadlock or
// a lock timeout is ErrUnavailable (retry later). The driver's text stays in
// the chain for logs; bridge.ErrorMessage never shows it to callers. Other
// errors, and a cancelled or expired context, are returned as they are.
func Err(err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	switch Number(err) {
	case ErrDupEntry:
		return &bridge.Error{Code: bridge.ECONFLICT, Message: "already exists", Err: err}
	case ErrLockWaitTimeout, ErrDeadlock, ErrTooManyConns, ErrServerShutdown, ErrReadOnly:
		return unavailable(err)
	case 0:
	default:
		return err
	}
	var ne net.Error
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.As(err, &ne) {
		return unavailable(err)
	}
	return err
}

func unavailable(err error) error {
	return &bridge.Error{Code: bridge.ErrUnavailable.Code, Message: bridge.ErrUnavailable.Message, Err: err}
}

// Time scans a DATETIME whatever the DSN's parseTime and loc say, keeping
// the wall clock in a UTC time.Time: WordPress and the sidecar store naive
// datetimes (UTC in *_gmt and the sidecar's columns, site-local elsewhere).
// NULL, empty text and zero dates ('0000-00-00 00:00:00') scan as not
// Valid.
type Time struct {
	Time  time.Time
	Valid bool
}

const layout = "2006-01-02 15:04:05.999999"

// Scan implements sql.Scanner.
func (t *Time) Scan(src any) error {
	*t = Time{}
	switch v := src.(type) {
	case nil:
		return nil
	case time.Time:
		if v.Year() < 1000 {
			return nil
		}
		t.Time = time.Date(v.Year(), v.Month(), v.Day(), v.Hour(), v.Minute(), v.Second(), v.Nanosecond(), time.UTC)
	case []byte:
		return t.parse(string(v))
	case string:
		return t.parse(v)
	default:
		return fmt.Errorf("scan %T into a time", src)
	}
	t.Valid = true
	return nil
}

func (t *Time) parse(s string) error {
	if s == "" || strings.HasPrefix(s, "0000-00-00") {
		return nil
	}
	v, err := time.ParseInLocation(layout, s, time.UTC)
	if err != nil {
		return fmt.Errorf("scan time %q: %w", s, err)
	}
	t.Time, t.Valid = v, true
	return nil
}

// In reads the wall clock as a time in loc (for site-local columns).
func (t Time) In(loc *time.Location) time.Time {
	v := t.Time
	return time.Date(v.Year(), v.Month(), v.Day(), v.Hour(), v.Minute(), v.Second(), v.Nanosecond(), loc).UTC()
}

// Ptr returns the time, or nil when it is not Valid.
func (t Time) Ptr() *time.Time {
	if !t.Valid {
		return nil
	}
	v := t.Time
	return &v
}

// UTC is a query argument writing t as UTC text to a DATETIME(6) column
// (the driver would convert a time.Time to the DSN's loc); the zero time is
// NULL.
type UTC time.Time

// Value implements driver.Valuer.
func (t UTC) Value() (driver.Value, error) {
	v := time.Time(t)
	if v.IsZero() {
		return nil, nil
	}
	return v.UTC().Truncate(time.Microsecond).Format(layout), nil
}
