package wootest

import "testing"

func TestOpenIsFreshAndUsable(t *testing.T) {
	a, b := Open(t), Open(t)
	if a.Name == b.Name {
		t.Fatalf("two Opens gave the same database %q", a.Name)
	}
	if _, err := a.Exec("CREATE TABLE t (id int primary key)"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := b.QueryRow("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE()").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("fresh database has %d tables, want 0", n)
	}
}
