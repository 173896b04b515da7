package store

import (
	"testing"
	"time"
)

// MigrationNames lists the embedded migrations, in order (for tests).
func MigrationNames(t testing.TB) []string {
	t.Helper()
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = m.name
	}
	return names
}

// ClaimNotificationsQuery is the SELECT a notification claim runs, with its
// parameters: now, then the limit (for tests that EXPLAIN it).
func (s *Store) ClaimNotificationsQuery() string {
	return claimQuery(s.outbox, dueNotifications, dueNotificationsOrder)
}

// RideFor makes apply transactions wait up to d for riders until the test
// ends, with callbacks counting as arriving for as long after one was
// recorded, and one just was.
func (s *Store) RideFor(t testing.TB, d time.Duration) {
	linger, recent := rideLinger, rideRecent
	rideLinger, rideRecent = d, d
	t.Cleanup(func() { rideLinger, rideRecent = linger, recent })
	s.arrived()
}

// Quiet makes callbacks count as not arriving: no apply transaction waits
// for riders, and no write waits for an apply.
func (s *Store) Quiet() { s.carry.received.Store(0) }

// Riders is how many writes ride the apply transactions waiting now.
func (s *Store) Riders() int {
	s.carry.mu.Lock()
	defer s.carry.mu.Unlock()
	n := 0
	for _, k := range s.carry.ready {
		n += len(k.riders)
	}
	return n
}

// Carriers is how many apply transactions wait for riders now, and how
// many writes rode one so far.
func (s *Store) Carriers() (waiting int, carried int64) {
	s.carry.mu.Lock()
	defer s.carry.mu.Unlock()
	return len(s.carry.ready), s.carry.carried.Load()
}
