package store_test

import (
	"context"
	"database/sql"
	"errors"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
	_ "time/tzdata" // Asia/Tokyo without the system zoneinfo

	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/store"
	"github.com/wcbridge/wcbridge/woo/wootest"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Date(2026, 3, 14, 9, 26, 53, 589793000, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newStore opens a migrated store with prefix "wp_" on a fresh database.
func newStore(t *testing.T) (*store.Store, *clock, *wootest.DB) {
	t.Helper()
	db := wootest.Open(t)
	clk := newClock()
	s, err := store.Open(db.DB, "wp_", store.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return s, clk, db
}

func tables(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query("SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func migrationNames(t *testing.T) []string { return store.MigrationNames(t) }

func TestMigrateTwice(t *testing.T) {
	ctx := context.Background()
	db := wootest.Open(t)
	s, err := store.Open(db.DB, "wp_", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pending, err := s.Pending(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := migrationNames(t); strings.Join(pending, ",") != strings.Join(want, ",") {
		t.Fatalf("pending before migrate = %v, want every migration: %v", pending, want)
	}
	applied, err := s.Migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(applied, ",") != strings.Join(pending, ",") {
		t.Fatalf("applied %v, want %v", applied, pending)
	}
	again, err := s.Migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != 0 {
		t.Fatalf("second migrate applied %v, want nothing", again)
	}
	if pending, err := s.Pending(ctx); err != nil || len(pending) != 0 {
		t.Fatalf("pending after migrate = %v, %v; want none", pending, err)
	}
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM wp_wcbridge_migrations").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != len(pending) {
		t.Fatalf("migrations recorded = %d, want %d", n, len(pending))
	}
	want := []string{"wp_wcbridge_callbacks", "wp_wcbridge_migrations", "wp_wcbridge_outbox", "wp_wcbridge_payments", "wp_wcbridge_requests", "wp_wcbridge_settings"}
	if got := tables(t, db.DB); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("tables = %v, want %v", got, want)
	}
}

// A crash between a migration's DDL and its record must not break the next start.
func TestMigrateAfterUnrecordedDDL(t *testing.T) {
	ctx := context.Background()
	s, _, db := newStore(t)
	if _, err := db.Exec("DELETE FROM wp_wcbridge_migrations WHERE name = '0002_create_callbacks.sql'"); err != nil {
		t.Fatal(err)
	}
	applied, err := s.Migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != 1 || applied[0] != "0002_create_callbacks.sql" {
		t.Fatalf("applied %v, want [0002_create_callbacks.sql]", applied)
	}
}

// A crash between an ALTER TABLE ... ADD COLUMN and its record: the column
// is there, and the next start records the migration as done.
func TestMigrateAfterUnrecordedAlter(t *testing.T) {
	ctx := context.Background()
	s, _, db := newStore(t)
	var alters []string
	for _, name := range migrationNames(t) {
		if name > "0005" {
			alters = append(alters, name)
		}
	}
	if len(alters) == 0 {
		t.Fatal("no migration adds a column")
	}
	for _, name := range alters {
		if _, err := db.Exec("DELETE FROM wp_wcbridge_migrations WHERE name = ?", name); err != nil {
			t.Fatal(err)
		}
	}
	applied, err := s.Migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(applied, ",") != strings.Join(alters, ",") {
		t.Fatalf("applied %v, want %v", applied, alters)
	}
}

func TestMigrateConcurrently(t *testing.T) {
	wootest.RequireReal(t, "GET_LOCK serialising replicas")
	ctx := context.Background()
	db := wootest.Open(t)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total []string
		errs  []error
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each replica has its own pool, like separate processes.
			conn, err := sql.Open("mysql", db.DSN)
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			s, err := store.Open(conn, "wp_", store.Options{})
			if err != nil {
				t.Error(err)
				return
			}
			applied, err := s.Migrate(ctx)
			mu.Lock()
			defer mu.Unlock()
			total = append(total, applied...)
			if err != nil {
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("concurrent migrate errors: %v", errs)
	}
	sort.Strings(total)
	want := strings.Join(migrationNames(t), ",")
	if got := strings.Join(total, ","); got != want {
		t.Fatalf("migrations applied across replicas = %s, want each once: %s", got, want)
	}
}

func TestOpenPrefix(t *testing.T) {
	db := wootest.Open(t)
	for _, prefix := range []string{"", "wp-", "wp_`; DROP TABLE x; --", "wp_ ", "wp.", "wp_\x00", "ẃp_", strings.Repeat("a", 41), "wp_`"} {
		_, err := store.Open(db.DB, prefix, store.Options{})
		if bridge.ErrorCode(err) != bridge.EINVALID {
			t.Errorf("Open(prefix %q) err = %v, want %s", prefix, err, bridge.EINVALID)
		}
	}
	for _, prefix := range []string{"wp_", "W", strings.Repeat("a", 40), "shop_7_"} {
		if _, err := store.Open(db.DB, prefix, store.Options{}); err != nil {
			t.Errorf("Open(prefix %q) = %v, want ok", prefix, err)
		}
	}
}

func TestCustomPrefix(t *testing.T) {
	ctx := context.Background()
	db := wootest.Open(t)
	s, err := store.Open(db.DB, "shop7_", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{"shop7_wcbridge_callbacks", "shop7_wcbridge_migrations", "shop7_wcbridge_outbox", "shop7_wcbridge_payments", "shop7_wcbridge_requests", "shop7_wcbridge_settings"}
	if got := tables(t, db.DB); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("tables = %v, want %v", got, want)
	}
	// A second prefix in the same database gets its own tables.
	other, err := store.Open(db.DB, "wp_", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if pending, err := other.Pending(ctx); err != nil || len(pending) != len(migrationNames(t)) {
		t.Fatalf("pending for wp_ = %v, %v; want all %d", pending, err, len(migrationNames(t)))
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestUnavailable(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("mysql", "root@tcp(127.0.0.1:1)/x?parseTime=true&timeout=1s")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := store.Open(db, "wp_", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); !errors.Is(err, bridge.ErrUnavailable) {
		t.Fatalf("ping on a closed port = %v, want ErrUnavailable", err)
	}
	if _, err := s.Payment(ctx, 1); !errors.Is(err, bridge.ErrUnavailable) {
		t.Fatalf("read on a closed port = %v, want ErrUnavailable", err)
	}
}

// leaseHeld reports whether the row of table (without prefix) is leased
// until a time still ahead by the database's clock, and by no more than
// d: leases are taken on the database's clock, whatever the store's says.
func leaseHeld(t *testing.T, db *wootest.DB, table string, id int64, d time.Duration) bool {
	t.Helper()
	var held bool
	err := db.QueryRow("SELECT COALESCE(lease_until > UTC_TIMESTAMP(6) AND lease_until <= DATE_ADD(UTC_TIMESTAMP(6), INTERVAL ? MICROSECOND), FALSE) FROM wp_"+table+" WHERE id = ?",
		d.Microseconds(), id).Scan(&held)
	if err != nil {
		t.Fatal(err)
	}
	return held
}

// waitLeaseEnded waits until the lease on the row of table has ended by
// the database's clock.
func waitLeaseEnded(t *testing.T, db *wootest.DB, table string, id int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var ended bool
		if err := db.QueryRow("SELECT COALESCE(lease_until <= UTC_TIMESTAMP(6), TRUE) FROM wp_"+table+" WHERE id = ?", id).Scan(&ended); err != nil {
			t.Fatal(err)
		}
		if ended {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the lease on %s %d did not end", table, id)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func requireReal(t *testing.T, why string) {
	t.Helper()
	wootest.RequireReal(t, why)
}

// Times are stored as UTC wall clocks even when the DSN names another loc,
// so every replica and WordPress read the same instant.
func TestTimesStoredAsUTC(t *testing.T) {
	ctx := context.Background()
	_, clk, db := newStore(t)
	tokyo, err := sql.Open("mysql", db.DSN+"&loc=Asia%2FTokyo")
	if err != nil {
		t.Fatal(err)
	}
	defer tokyo.Close()
	s, err := store.Open(tokyo, "wp_", store.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.CreatePayment(ctx, &bridge.Payment{OrderID: 1, Gateway: "streampay", OrderRef: "r1", Status: bridge.PaymentPending})
	if err != nil {
		t.Fatal(err)
	}
	want := clk.Now().Truncate(time.Microsecond)
	var raw time.Time // read through the UTC DSN
	if err := db.QueryRow("SELECT created_at FROM wp_wcbridge_payments WHERE id = ?", p.ID).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if !raw.Equal(want) {
		t.Fatalf("stored created_at = %v, want the UTC wall clock %v", raw, want)
	}
	got, err := s.Payment(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.CreatedAt.Equal(want) || got.CreatedAt.Location() != time.UTC {
		t.Fatalf("read created_at = %v, want %v in UTC", got.CreatedAt, want)
	}
}
