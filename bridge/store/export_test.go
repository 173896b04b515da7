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
