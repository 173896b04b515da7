package woo

import (
	"context"
	"errors"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/wcbridge/wcbridge/woo/wootest"
)

// A batch's statements run in order in one query; the variables it keeps
// carry each write's count and id, and a failing statement fails the batch
// and stops the ones after it.
func TestBatch(t *testing.T) {
	ctx := context.Background()
	db := wootest.Open(t)
	if _, err := db.ExecContext(ctx, "CREATE TABLE t (id BIGINT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(20) NOT NULL UNIQUE, n INT NOT NULL DEFAULT 0)"); err != nil {
		t.Fatal(err)
	}
	run := func(b *batch) ([]int64, error) {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := b.run(ctx, tx)
		if err != nil {
			tx.Rollback()
			return nil, err
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		return got, nil
	}

	var b batch
	b.add("INSERT INTO t (v) VALUES (?), (?)", "a;b", "it's")
	all := b.changed()
	b.add("INSERT INTO t (v) VALUES (?)", "c")
	name, id := b.insertID()
	b.add("UPDATE t SET n = "+name+" WHERE v = ?", "a;b")
	one := b.changed()
	b.add("UPDATE t SET n = 1 WHERE v = ?", "missing")
	none := b.changed()
	got, err := run(&b)
	if err != nil {
		t.Fatal(err)
	}
	if got[all] != 2 || got[id] != 3 || got[one] != 1 || got[none] != 0 {
		t.Fatalf("kept %v: want 2 rows, id 3, 1 row, 0 rows", got)
	}
	var n int64
	if err := db.QueryRowContext(ctx, "SELECT n FROM t WHERE v = 'a;b'").Scan(&n); err != nil || n != 3 {
		t.Fatalf("n = %d, %v: want the id kept by the batch, 3", n, err)
	}

	// What the server still holds after the last statement is read back
	// without a statement keeping it: the last id an insert made, through
	// an update after it, and the last statement's row count.
	var tail batch
	tail.add("INSERT INTO t (v) VALUES (?)", "d")
	b4 := tail.last("LAST_INSERT_ID()")
	tail.add("UPDATE t SET n = 4 WHERE v IN (?, ?)", "c", "d")
	two := tail.last("ROW_COUNT()")
	if got, err = run(&tail); err != nil {
		t.Fatal(err)
	}
	if got[b4] != 4 || got[two] != 2 {
		t.Fatalf("read back %v: want id 4, 2 rows", got)
	}

	var bad batch
	bad.add("UPDATE t SET n = 7 WHERE v = ?", "c")
	bad.add("INSERT INTO t (v) VALUES (?)", "a;b") // duplicate key
	bad.changed()
	bad.add("UPDATE t SET n = 8 WHERE v = ?", "it's")
	// Inside the transaction, before it is rolled back: the statement
	// before the failing one ran, the one after it did not.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	var dup *mysql.MySQLError
	if _, err := bad.run(ctx, tx); !errors.As(err, &dup) || dup.Number != 1062 {
		t.Fatalf("batch with a duplicate key: %v, want the duplicate's error", err)
	}
	if !db.Real {
		// The embedded engine leaves the connection unusable after a
		// statement of a query fails ("busy buffer"): only the rollback
		// is left, which is what an apply does then.
		return
	}
	var before, after int64
	if err := tx.QueryRowContext(ctx, "SELECT (SELECT n FROM t WHERE v = 'c'), (SELECT n FROM t WHERE v = 'it''s')").Scan(&before, &after); err != nil {
		t.Fatal(err)
	}
	if before != 7 || after != 0 {
		t.Fatalf("after the failed batch: n = %d before the failing statement (want 7, it ran), %d after it (want 0, it did not)", before, after)
	}
}
