package mysqlkit

import (
	"context"
	"database/sql"
	"slices"
	"testing"
)

type execRecorder struct {
	queries []string
	args    [][]any
}

func (e *execRecorder) ExecContext(_ context.Context, q string, args ...any) (sql.Result, error) {
	e.queries, e.args = append(e.queries, q), append(e.args, args)
	return nil, nil
}

// Deferred writes the rows of each INSERT in one statement, in the order
// they were added, every statement in one round trip, and forgets them.
func TestDeferred(t *testing.T) {
	ctx := context.Background()
	var none *Deferred
	if none.Waiting(1) || none.Len() != 0 {
		t.Error("a nil Deferred holds rows")
	}
	var e execRecorder
	if err := none.Flush(ctx, &e); err != nil || len(e.queries) != 0 {
		t.Fatalf("flushing nothing: %v, %d queries", err, len(e.queries))
	}

	var d Deferred
	meta, metaTail := "INSERT INTO m (id, order_id, k, v) VALUES", "ON DUPLICATE KEY UPDATE v = VALUES(v)"
	d.Add(meta, metaTail, 7, "(NULL, ?, ?, ?), (NULL, ?, ?, ?)", 7, "a", "1", 7, "b", "2")
	d.Add("INSERT INTO o (e) VALUES", "", 7, "(?)", "e7")
	d.Add(meta, metaTail, 8, "(?, ?, ?, ?)", 40, 8, "a", "3")
	if !d.Waiting(7) || !d.Waiting(8) || d.Waiting(9) || d.Len() != 2 {
		t.Fatalf("waiting 7 %v, 8 %v, 9 %v, %d statements; want true, true, false, 2", d.Waiting(7), d.Waiting(8), d.Waiting(9), d.Len())
	}
	if err := d.FlushFor(ctx, &e, 9); err != nil || len(e.queries) != 0 {
		t.Fatalf("FlushFor an owner with nothing held: %v, %d queries; want none", err, len(e.queries))
	}
	if err := d.FlushFor(ctx, &e, 8); err != nil {
		t.Fatal(err)
	}
	want := "INSERT INTO m (id, order_id, k, v) VALUES (NULL, ?, ?, ?), (NULL, ?, ?, ?), (?, ?, ?, ?) ON DUPLICATE KEY UPDATE v = VALUES(v);\n" +
		"INSERT INTO o (e) VALUES (?)"
	if len(e.queries) != 1 || e.queries[0] != want {
		t.Fatalf("queries %q, want one: %q", e.queries, want)
	}
	if wantArgs := []any{7, "a", "1", 7, "b", "2", 40, 8, "a", "3", "e7"}; !slices.Equal(e.args[0], wantArgs) {
		t.Errorf("args %v, want %v", e.args[0], wantArgs)
	}
	if d.Waiting(7) || d.Len() != 0 {
		t.Error("rows still held after the flush")
	}
	if err := d.Flush(ctx, &e); err != nil || len(e.queries) != 1 {
		t.Errorf("a second flush sent %d queries (%v), want none", len(e.queries)-1, err)
	}
}
