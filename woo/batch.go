package woo

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"github.com/wcbridge/wcbridge/bridge/mysqlkit"
)

// A batch sends an apply's writes to the server in one round trip: the
// connection allows several statements per query (cmd/wcbridge's openDB
// sets multiStatements, with interpolateParams, so that every value is
// escaped into its statement by the driver and no statement text comes
// from input). The statements run in order in the caller's transaction;
// the first that fails stops the rest and fails the batch, and its owner
// rolls the transaction back. What a write's own result would have told
// (the rows an update changed, the id an insert got) is read back by the
// batch's last statement: straight from the server's session where that
// still holds it (the last statement's row count, the id of the last
// insert that made one: last), else from a session variable a statement
// right after the write kept it in (keep).
type batch struct {
	stmts []string
	args  []any
	vars  []string // the expressions read back at the end, in order
}

// add appends one statement and its arguments.
func (b *batch) add(q string, args ...any) {
	b.stmts = append(b.stmts, q)
	b.args = append(b.args, args...)
}

// keep appends a statement keeping expr (ROW_COUNT() or LAST_INSERT_ID()
// of the statement just added) in a variable, and returns the variable's
// name and its index in run's results.
func (b *batch) keep(expr string) (name string, i int) {
	i = len(b.vars)
	name = "@wcbridge_b" + strconv.Itoa(i)
	b.vars = append(b.vars, name)
	b.stmts = append(b.stmts, "SET "+name+" = "+expr)
	return name, i
}

// last reads back expr, ROW_COUNT() or LAST_INSERT_ID(), as the server
// still has it after the batch's last statement: the caller adds nothing
// after that would change it (for ROW_COUNT(), no statement at all; for
// LAST_INSERT_ID(), no insert that makes an id). It costs no statement.
func (b *batch) last(expr string) int {
	b.vars = append(b.vars, expr)
	return len(b.vars) - 1
}

// changed keeps the rows changed by the statement just added.
func (b *batch) changed() int { _, i := b.keep("ROW_COUNT()"); return i }

// insertID keeps the id the insert just added got; name is the variable
// that holds it, for the statements after it.
func (b *batch) insertID() (name string, i int) { return b.keep("LAST_INSERT_ID()") }

// run sends the statements in one query, ending with the SELECT of the
// kept values (at least one: every batch checks what it wrote), and returns
// them.
func (b *batch) run(ctx context.Context, tx *sql.Tx) ([]int64, error) {
	vals := make([]sql.NullInt64, len(b.vars))
	dest := make([]any, len(vals))
	for i := range vals {
		dest[i] = &vals[i]
	}
	q := mysqlkit.Statements(append(b.stmts, "SELECT "+strings.Join(b.vars, ", "))...)
	if err := tx.QueryRowContext(ctx, q, b.args...).Scan(dest...); err != nil {
		return nil, err
	}
	out := make([]int64, len(vals))
	for i, v := range vals {
		if !v.Valid {
			return nil, fmt.Errorf("batch: %s not read back", b.vars[i])
		}
		out[i] = v.Int64
	}
	return out, nil
}
