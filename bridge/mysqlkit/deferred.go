package mysqlkit

import (
	"context"
	"database/sql"
	"strings"
)

// Deferred holds rows of INSERTs that need nothing back (no id, no row
// count) until the end of a transaction shared by several reports, where
// Flush writes the rows of each statement in one multi-row INSERT: the
// database's cost goes with the number of statements more than with their
// rows (docs/BENCHMARKS.md, the statement shapes). The rows of one INSERT
// go in the order they were added. A row belongs to an owner (an order):
// whoever reads an owner's rows in the same transaction flushes first when
// Waiting says some are held back. Deferred is used by one transaction's
// goroutine at a time.
type Deferred struct {
	keys    []string
	inserts map[string]*deferredInsert
	owners  map[int64]bool
}

// execer is a transaction (or anything that runs statements).
type execer interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}

type deferredInsert struct {
	rows []string
	args []any
}

// Add holds back one or more rows (rows, as after VALUES, with their
// placeholders and args) of the INSERT head ... tail, where head ends with
// VALUES and tail follows the rows (an ON DUPLICATE KEY clause, or "").
func (d *Deferred) Add(head, tail string, owner int64, rows string, args ...any) {
	key := head + "\x00" + tail
	if d.inserts == nil {
		d.inserts, d.owners = map[string]*deferredInsert{}, map[int64]bool{}
	}
	in, ok := d.inserts[key]
	if !ok {
		in = &deferredInsert{}
		d.inserts[key] = in
		d.keys = append(d.keys, key)
	}
	in.rows = append(in.rows, rows)
	in.args = append(in.args, args...)
	d.owners[owner] = true
}

// Waiting reports whether rows of owner are held back.
func (d *Deferred) Waiting(owner int64) bool { return d != nil && d.owners[owner] }

// FlushFor is Flush when rows of owner are held back: what a reader of
// owner's rows calls first, so that it reads them.
func (d *Deferred) FlushFor(ctx context.Context, q execer, owner int64) error {
	if !d.Waiting(owner) {
		return nil
	}
	return d.Flush(ctx, q)
}

// Len is the number of INSERTs held back.
func (d *Deferred) Len() int {
	if d == nil {
		return 0
	}
	return len(d.keys)
}

// Flush writes the rows held back, one INSERT per statement, all in one
// round trip on q (the connection must allow several statements per query),
// and forgets them. A failure leaves d empty: the caller rolls back.
func (d *Deferred) Flush(ctx context.Context, q execer) error {
	if d.Len() == 0 {
		return nil
	}
	stmts := make([]string, 0, len(d.keys))
	var args []any
	for _, key := range d.keys {
		head, tail, _ := strings.Cut(key, "\x00")
		in := d.inserts[key]
		stmt := head + " " + strings.Join(in.rows, ", ")
		if tail != "" {
			stmt += " " + tail
		}
		stmts = append(stmts, stmt)
		args = append(args, in.args...)
	}
	d.keys, d.inserts, d.owners = nil, nil, nil
	_, err := q.ExecContext(ctx, Statements(stmts...), args...)
	return err
}
