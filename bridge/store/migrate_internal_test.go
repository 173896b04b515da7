package store

import (
	"strings"
	"testing"
)

func TestMigrationsAreSingleStatements(t *testing.T) {
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 {
		t.Fatal("no embedded migrations")
	}
	for i, m := range ms {
		if want := []string{"0001", "0002", "0003", "0004"}; i < len(want) && !strings.HasPrefix(m.name, want[i]) {
			t.Errorf("migration %d is %s, want numbered %s", i, m.name, want[i])
		}
		// Safe to re-run: a table is created only if missing; an added
		// column that exists counts as done (Migrate).
		create := strings.HasPrefix(m.sql, "CREATE TABLE IF NOT EXISTS `{prefix}wcbridge_")
		alter := strings.HasPrefix(m.sql, "ALTER TABLE `{prefix}wcbridge_") && strings.Contains(m.sql, " ADD COLUMN ") &&
			!strings.Contains(m.sql, " DROP ") && !strings.Contains(m.sql, " MODIFY ")
		if !create && !alter {
			t.Errorf("%s: want CREATE TABLE IF NOT EXISTS or ALTER TABLE ... ADD COLUMN on a {prefix}wcbridge_ table", m.name)
		}
	}
}

func TestStatement(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
		fail            bool
	}{
		{name: "comments and semicolon", src: "-- why\nCREATE TABLE t (a INT);\n", want: "CREATE TABLE t (a INT)"},
		{name: "two statements", src: "CREATE TABLE a (x INT); DROP TABLE b;", fail: true},
		{name: "only comments", src: "-- nothing\n", fail: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := statement(tc.src)
			if (err != nil) != tc.fail || got != tc.want {
				t.Fatalf("statement() = %q, %v; want %q, fail %v", got, err, tc.want, tc.fail)
			}
		})
	}
}

func TestLockName(t *testing.T) {
	if got := lockName("wordpress"); got != "wordpress.wcbridge_migrate" {
		t.Errorf("lockName = %q", got)
	}
	if got := lockName(strings.Repeat("d", 64)); len(got) > 64 {
		t.Errorf("lock name for a long database has %d characters, want at most 64", len(got))
	}
}
