package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// openDB opens the shop's database with the settings every part relies on:
// UTC times parsed into time.Time, utf8mb4, bounded timeouts, client-side
// parameter interpolation (one round trip per statement; safe because the
// connection charset is utf8mb4), and several statements per query, which
// an apply's writes are sent as (woo's batch): every value in them is
// interpolated by the driver, and no statement text comes from input.
func openDB(ctx context.Context, dsn string, maxOpen int) (*sql.DB, error) {
	c, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("database.dsn: not a valid DSN")
	}
	c.ParseTime = true
	c.Loc = time.UTC
	c.InterpolateParams, c.MultiStatements = true, true
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Second
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = 30 * time.Second
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 30 * time.Second
	}
	if c.Params == nil {
		c.Params = map[string]string{}
	}
	c.Params["charset"] = "utf8mb4"
	c.Params["time_zone"] = "'+00:00'"
	db, err := sql.Open("mysql", c.FormatDSN())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(maxOpen)
	db.SetMaxIdleConns(maxOpen)
	db.SetConnMaxLifetime(5 * time.Minute)
	db.SetConnMaxIdleTime(time.Minute)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to database %s: %w", redactDSN(dsn), err)
	}
	return db, nil
}

// connectDB opens the database, retrying with back-off for up to
// cfg.StartupWait while it is not reachable yet (a container that starts
// beside MariaDB must not crash-loop while it initialises). Each failed
// attempt is logged. An answer from the server itself (wrong password,
// unknown database) will not change by waiting and ends the wait at once.
func connectDB(ctx context.Context, cfg DatabaseConfig, logger *slog.Logger) (*sql.DB, error) {
	start := time.Now()
	deadline := start.Add(cfg.StartupWait)
	delay := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		db, err := openDB(ctx, cfg.DSN, cfg.MaxOpenConns)
		if err == nil {
			if attempt > 1 {
				logger.Info("database reachable", "attempt", attempt, "waited", time.Since(start).Round(time.Millisecond).String())
			}
			return db, nil
		}
		var me *mysql.MySQLError
		left := time.Until(deadline)
		if errors.As(err, &me) || left <= 0 || ctx.Err() != nil {
			if attempt > 1 {
				return nil, fmt.Errorf("%w (gave up after %d attempts in %s; database.startup_wait is %s)", err, attempt, time.Since(start).Round(time.Second), cfg.StartupWait)
			}
			return nil, err
		}
		wait := min(delay, left)
		logger.Warn("database not reachable yet; retrying", "attempt", attempt, "retry_in", wait.String(), "gives_up_in", left.Round(time.Second).String(), "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		delay = min(delay*2, 10*time.Second)
	}
}

// driverLogger sends the MySQL driver's own messages (dropped connections,
// bad packets) to the sidecar's logger instead of a plain line on stderr.
type driverLogger struct{ l *slog.Logger }

func (d driverLogger) Print(v ...any) {
	d.l.Warn(strings.TrimSpace(fmt.Sprint(v...)), "component", "mysql")
}

// newLogger builds the one logger passed down to every part.
func newLogger(cfg LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(cfg.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
