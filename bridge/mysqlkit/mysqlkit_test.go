package mysqlkit_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/mysqlkit"
)

func myErr(n uint16) error { return fmt.Errorf("exec: %w", &mysql.MySQLError{Number: n, Message: "x"}) }

// TestErr: one classification for both adapters; "too many connections" is
// a retry-later (503), not an internal error.
func TestErr(t *testing.T) {
	other := errors.New("syntax")
	tests := []struct {
		name string
		in   error
		want error // a sentinel errors.Is must match; nil: returned as is
	}{
		{"duplicate key", myErr(mysqlkit.ErrDupEntry), &bridge.Error{Code: bridge.ECONFLICT, Message: "already exists"}},
		{"too many connections", myErr(mysqlkit.ErrTooManyConns), bridge.ErrUnavailable},
		{"deadlock", myErr(mysqlkit.ErrDeadlock), bridge.ErrUnavailable},
		{"lock wait timeout", myErr(mysqlkit.ErrLockWaitTimeout), bridge.ErrUnavailable},
		{"server shutdown", myErr(mysqlkit.ErrServerShutdown), bridge.ErrUnavailable},
		{"read only", myErr(mysqlkit.ErrReadOnly), bridge.ErrUnavailable},
		{"bad connection", fmt.Errorf("q: %w", driver.ErrBadConn), bridge.ErrUnavailable},
		{"invalid connection", mysql.ErrInvalidConn, bridge.ErrUnavailable},
		{"refused", fmt.Errorf("dial: %w", syscall.ECONNREFUSED), bridge.ErrUnavailable},
		{"reset", fmt.Errorf("read: %w", syscall.ECONNRESET), bridge.ErrUnavailable},
		{"another server error", myErr(1064), nil},
		{"not a driver error", other, nil},
		{"cancelled", context.Canceled, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mysqlkit.Err(tt.in)
			if tt.want == nil {
				if got != tt.in {
					t.Errorf("Err(%v) = %v, want it unchanged", tt.in, got)
				}
				return
			}
			if !errors.Is(got, tt.want) || !errors.Is(got, tt.in) {
				t.Errorf("Err(%v) = %v, want %v wrapping the driver's error", tt.in, got, tt.want)
			}
		})
	}
	if mysqlkit.Err(nil) != nil {
		t.Error("Err(nil) is not nil")
	}
}

func TestRetry(t *testing.T) {
	tests := []struct {
		name    string
		fails   []error
		retries int
		calls   int
		wantErr bool
	}{
		{"success", nil, 2, 1, false},
		{"deadlock then success", []error{myErr(mysqlkit.ErrDeadlock)}, 2, 2, false},
		{"lock wait twice then success", []error{myErr(mysqlkit.ErrLockWaitTimeout), myErr(mysqlkit.ErrLockWaitTimeout)}, 2, 3, false},
		{"deadlocks beyond the retries", []error{myErr(mysqlkit.ErrDeadlock), myErr(mysqlkit.ErrDeadlock), myErr(mysqlkit.ErrDeadlock)}, 2, 3, true},
		{"not retryable", []error{myErr(mysqlkit.ErrDupEntry)}, 2, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			err := mysqlkit.Retry(context.Background(), tt.retries, func() error {
				calls++
				if calls <= len(tt.fails) {
					return tt.fails[calls-1]
				}
				return nil
			})
			if calls != tt.calls || (err != nil) != tt.wantErr {
				t.Errorf("%d calls, err %v; want %d calls, error %v", calls, err, tt.calls, tt.wantErr)
			}
		})
	}
}

func TestValidPrefix(t *testing.T) {
	for prefix, ok := range map[string]bool{"wp_": true, "shop2_": true, "A_b_9": true, "": false, "wp-": false, "wp_;drop": false, "wp`": false,
		"a234567890123456789012345678901234567890": true, "a2345678901234567890123456789012345678901": false} {
		err := mysqlkit.ValidPrefix(prefix)
		if (err == nil) != ok || (err != nil && !errors.Is(err, &bridge.Error{Code: bridge.EINVALID, Message: err.(*bridge.Error).Message})) {
			t.Errorf("ValidPrefix(%q) = %v, want ok %v", prefix, err, ok)
		}
	}
}

func TestTime(t *testing.T) {
	paris, _ := time.LoadLocation("Europe/Paris")
	tests := []struct {
		name  string
		src   any
		want  time.Time
		valid bool
	}{
		{"NULL", nil, time.Time{}, false},
		{"text", "2026-03-01 12:34:56", time.Date(2026, 3, 1, 12, 34, 56, 0, time.UTC), true},
		{"bytes with microseconds", []byte("2026-03-01 12:34:56.123456"), time.Date(2026, 3, 1, 12, 34, 56, 123456000, time.UTC), true},
		{"zero date", "0000-00-00 00:00:00", time.Time{}, false},
		{"empty", "", time.Time{}, false},
		{"parsed in another zone keeps the wall clock", time.Date(2026, 3, 1, 12, 34, 56, 0, paris), time.Date(2026, 3, 1, 12, 34, 56, 0, time.UTC), true},
		{"parsed zero date", time.Time{}, time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got mysqlkit.Time
			if err := got.Scan(tt.src); err != nil {
				t.Fatal(err)
			}
			if got.Valid != tt.valid || !got.Time.Equal(tt.want) || (tt.valid && got.Time.Location() != time.UTC) {
				t.Errorf("Scan(%v) = %+v, want %v valid %v", tt.src, got, tt.want, tt.valid)
			}
			if (got.Ptr() != nil) != tt.valid {
				t.Errorf("Ptr() = %v", got.Ptr())
			}
		})
	}
	var bad mysqlkit.Time
	if err := bad.Scan("yesterday"); err == nil {
		t.Error("scanned a text that is no datetime")
	}
	var local mysqlkit.Time
	_ = local.Scan("2026-07-01 14:00:00")
	if got, want := local.In(paris), time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("In(Paris) = %v, want %v", got, want)
	}
	v, _ := mysqlkit.UTC(time.Date(2026, 3, 1, 13, 34, 56, 123456789, paris)).Value()
	if v != "2026-03-01 12:34:56.123456" {
		t.Errorf("UTC value = %v", v)
	}
	if v, _ := mysqlkit.UTC(time.Time{}).Value(); v != nil {
		t.Errorf("zero time written as %v, want NULL", v)
	}
}
