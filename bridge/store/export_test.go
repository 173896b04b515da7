package store

import "testing"

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
