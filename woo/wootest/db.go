// Package wootest gives tests (and the demo) fresh MySQL databases: on the
// MariaDB/MySQL server named by WCBRIDGE_TEST_MYSQL_DSN when it is set, else
// on an embedded MySQL-compatible engine started in-process. It also creates
// WooCommerce's tables in any storage mode and seeds orders (schema.go).
package wootest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"

	sqle "github.com/dolthub/go-mysql-server"
	"github.com/dolthub/go-mysql-server/memory"
	"github.com/dolthub/go-mysql-server/server"
	gsql "github.com/dolthub/go-mysql-server/sql"
	"github.com/go-sql-driver/mysql"
	"github.com/sirupsen/logrus"
)

// EnvDSN names the variable holding a DSN without database name
// (e.g. "root@tcp(127.0.0.1:3306)/") of a server on which tests may create
// and drop databases.
const EnvDSN = "WCBRIDGE_TEST_MYSQL_DSN"

// EnvRequire, when "1", turns a skip for want of a real server into a failure
// (CI sets it so real-database tests cannot silently not run).
const EnvRequire = "WCBRIDGE_TEST_REQUIRE_MYSQL"

// DB is a fresh, empty database.
type DB struct {
	*sql.DB
	Name string // database name
	DSN  string // full DSN for this database
	Real bool   // on a real MariaDB/MySQL server (row locking is real)
}

// Real reports whether tests run against a real MariaDB/MySQL server.
func Real() bool { return os.Getenv(EnvDSN) != "" }

// RequireReal skips t unless a real server is configured; the reason is
// named so a reader knows why. Under EnvRequire=1 it fails instead.
func RequireReal(t testing.TB, why string) {
	t.Helper()
	if Real() {
		return
	}
	msg := fmt.Sprintf("needs a real MariaDB/MySQL (%s): set %s", why, EnvDSN)
	if os.Getenv(EnvRequire) == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// Open creates a fresh database for t and drops it when t ends.
func Open(t testing.TB) *DB {
	t.Helper()
	if os.Getenv(EnvRequire) == "1" && !Real() {
		t.Fatalf("%s=1 but %s is not set", EnvRequire, EnvDSN)
	}
	db, err := Create(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Drop() })
	return db
}

// Create creates a fresh database named name (random when empty) on the
// configured server, or on the embedded engine when none is configured.
func Create(ctx context.Context, name string) (*DB, error) {
	base, real := os.Getenv(EnvDSN), true
	if base == "" {
		real = false
		addr, err := Embedded()
		if err != nil {
			return nil, err
		}
		base = "root@tcp(" + addr + ")/"
	}
	if name == "" {
		b := make([]byte, 6)
		rand.Read(b)
		name = "wcb_test_" + hex.EncodeToString(b)
	}
	cfg, err := mysql.ParseDSN(base)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", EnvDSN, err)
	}
	cfg.DBName = ""
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS `"+name+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		return nil, fmt.Errorf("create database: %w", err)
	}
	cfg.DBName = name
	cfg.ParseTime = true
	// As the sidecar connects (cmd/wcbridge openDB): values interpolated by
	// the driver, several statements per query (woo's batched writes).
	cfg.InterpolateParams, cfg.MultiStatements = true, true
	cfg.Params = map[string]string{"charset": "utf8mb4"}
	cfg.Loc = nil
	dsn := cfg.FormatDSN()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return &DB{DB: db, Name: name, DSN: dsn, Real: real}, nil
}

// Drop drops the database and closes it.
func (d *DB) Drop() {
	d.ExecContext(context.Background(), "DROP DATABASE IF EXISTS `"+d.Name+"`")
	d.Close()
}

var (
	embedOnce sync.Once
	embedAddr string
	embedErr  error
)

// Embedded starts (once per process) an in-memory MySQL-compatible server on
// loopback and returns its address. It has no real row locks: tests of
// concurrent writers need a real server (RequireReal).
func Embedded() (string, error) {
	embedOnce.Do(func() {
		logrus.SetLevel(logrus.WarnLevel)
		if !strings.Contains(os.Getenv("WCBRIDGE_EMBEDDED_LOG"), "debug") {
			logrus.SetLevel(logrus.ErrorLevel)
		}
		pro := memory.NewDBProvider(memory.NewDatabase("wcbridge"))
		engine := sqle.NewDefault(pro)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			embedErr = err
			return
		}
		embedAddr = l.Addr().String()
		l.Close()
		s, err := server.NewServer(server.Config{Protocol: "tcp", Address: embedAddr}, engine, gsql.NewContext, memory.NewSessionBuilder(pro), nil)
		if err != nil {
			embedErr = fmt.Errorf("embedded mysql: %w", err)
			return
		}
		go s.Start()
	})
	return embedAddr, embedErr
}
