package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/wcbridge/wcbridge/bridge"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migration is one embedded SQL file holding exactly one statement.
type migration struct {
	name string // file name, e.g. "0001_create_payments.sql"
	sql  string // the statement with {prefix} still in it
}

// loadMigrations reads the embedded migrations in name order.
func loadMigrations() ([]migration, error) {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	ms := make([]migration, 0, len(names))
	for _, n := range names {
		b, err := migrationFS.ReadFile(n)
		if err != nil {
			return nil, err
		}
		stmt, err := statement(string(b))
		if err != nil {
			return nil, fmt.Errorf("migration %s: %w", n, err)
		}
		ms = append(ms, migration{name: strings.TrimPrefix(n, "migrations/"), sql: stmt})
	}
	return ms, nil
}

// statement strips "--" comment lines and the trailing semicolon and checks
// that one statement is left: the driver refuses multi-statements, and MySQL
// commits DDL implicitly, so one file is one step that either happened or not.
func statement(src string) (string, error) {
	var b strings.Builder
	for _, line := range strings.Split(src, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "--") {
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	stmt := strings.TrimSpace(b.String())
	stmt = strings.TrimSpace(strings.TrimSuffix(stmt, ";"))
	if stmt == "" {
		return "", errors.New("empty")
	}
	if strings.Contains(stmt, ";") {
		return "", errors.New("more than one statement")
	}
	return stmt, nil
}

// bootstrap creates the migrations table; it is not itself a migration
// because it records them.
func (s *Store) bootstrap(ctx context.Context, q execer) error {
	_, err := q.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+s.migrations+` (
	name VARCHAR(191) NOT NULL,
	applied_at DATETIME(6) NOT NULL,
	PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`)
	return err
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Migrate applies the embedded migrations not yet recorded and returns their
// names. Replicas starting at once are serialised by a named server lock;
// each statement is CREATE ... IF NOT EXISTS or adds columns (an existing
// column counts as done), so a crash between a statement and its record is
// repaired by the next run.
func (s *Store) Migrate(ctx context.Context) (applied []string, err error) {
	ms, err := loadMigrations()
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	// GET_LOCK belongs to the session, so everything runs on one connection.
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", dbError(err))
	}
	defer conn.Close()

	var dbName sql.NullString
	if err := conn.QueryRowContext(ctx, "SELECT DATABASE()").Scan(&dbName); err != nil {
		return nil, fmt.Errorf("migrate: %w", dbError(err))
	}
	if !dbName.Valid || dbName.String == "" {
		return nil, errors.New("migrate: no database selected in the DSN")
	}
	lock := lockName(dbName.String)
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, 30)", lock).Scan(&got); err != nil {
		return nil, fmt.Errorf("migrate: take lock: %w", dbError(err))
	}
	if !got.Valid || got.Int64 != 1 {
		return nil, fmt.Errorf("migrate: another replica holds the migration lock: %w", bridge.ErrUnavailable)
	}
	defer func() {
		// Released even when ctx is done: a held lock would stall the next start
		// until this connection dies.
		var r sql.NullInt64
		if rerr := conn.QueryRowContext(context.WithoutCancel(ctx), "SELECT RELEASE_LOCK(?)", lock).Scan(&r); rerr != nil {
			s.log.Warn("release migration lock", "err", rerr)
		}
	}()

	if err := s.bootstrap(ctx, conn); err != nil {
		return nil, fmt.Errorf("migrate: create migrations table: %w", dbError(err))
	}
	done, err := s.appliedMigrations(ctx, conn)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	for _, m := range ms {
		if done[m.name] {
			continue
		}
		// A column added by a migration whose record a crash lost is there
		// already: the migration is done.
		if _, err := conn.ExecContext(ctx, strings.ReplaceAll(m.sql, "{prefix}", s.prefix)); err != nil && !isDupColumn(err) {
			return applied, fmt.Errorf("migrate %s: %w", m.name, dbError(err))
		}
		if _, err := conn.ExecContext(ctx, "INSERT INTO "+s.migrations+" (name, applied_at) VALUES (?, ?)", m.name, dt(s.nowUTC())); err != nil && !isDup(err) {
			return applied, fmt.Errorf("migrate %s: record: %w", m.name, dbError(err))
		}
		s.log.Info("migration applied", "migration", m.name)
		applied = append(applied, m.name)
	}
	return applied, nil
}

// lockName is the server-wide lock name for the database; MySQL limits lock
// names to 64 characters, so a long database name is hashed.
func lockName(db string) string {
	name := db + ".wcbridge_migrate"
	if len(name) > 64 {
		h := sha256.Sum256([]byte(db))
		name = hex.EncodeToString(h[:20]) + ".wcbridge_migrate"
	}
	return name
}

func (s *Store) appliedMigrations(ctx context.Context, q execer) (map[string]bool, error) {
	rows, err := q.QueryContext(ctx, "SELECT name FROM "+s.migrations)
	if err != nil {
		return nil, dbError(err)
	}
	defer rows.Close()
	done := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		done[n] = true
	}
	return done, dbError(rows.Err())
}

// Pending lists the embedded migrations not yet applied, in order, without
// changing anything (for "wcbridge check").
func (s *Store) Pending(ctx context.Context) ([]string, error) {
	ms, err := loadMigrations()
	if err != nil {
		return nil, fmt.Errorf("pending migrations: %w", err)
	}
	var n int
	err = s.db.QueryRowContext(ctx,
		"SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?",
		s.prefix+"wcbridge_migrations").Scan(&n)
	if err != nil {
		return nil, fmt.Errorf("pending migrations: %w", dbError(err))
	}
	done := map[string]bool{}
	if n > 0 {
		if done, err = s.appliedMigrations(ctx, s.db); err != nil {
			return nil, fmt.Errorf("pending migrations: %w", err)
		}
	}
	var pending []string
	for _, m := range ms {
		if !done[m.name] {
			pending = append(pending, m.name)
		}
	}
	return pending, nil
}
