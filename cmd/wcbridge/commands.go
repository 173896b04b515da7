package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/wcbridge/wcbridge/bridge/store"
	"github.com/wcbridge/wcbridge/woo"
)

// commandConfig parses the common flags of a command and loads the config.
// It returns the config even when it has problems, with the error.
// define adds a command's own flags before parsing.
func commandConfig(name string, args, env []string, stdout, stderr io.Writer, define ...func(*flag.FlagSet)) (*Config, *flag.FlagSet, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	path := fs.String("config", getenv(env, "WCBRIDGE_CONFIG"), "path to the YAML config file (default $WCBRIDGE_CONFIG, else none: defaults and WCBRIDGE_* variables only)")
	for _, d := range define {
		d(fs)
	}
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return nil, fs, err
	}
	cfg, err := LoadConfig(*path, env)
	return cfg, fs, err
}

// runMigrate creates or updates the sidecar's own tables.
func runMigrate(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	cfg, _, err := commandConfig("migrate", args, env, stdout, stderr)
	if err != nil {
		return err
	}
	db, err := openDB(ctx, cfg.Database.DSN, 2)
	if err != nil {
		return err
	}
	defer db.Close()
	st, err := store.Open(db, cfg.Database.TablePrefix, store.Options{})
	if err != nil {
		return err
	}
	applied, err := st.Migrate(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if len(applied) == 0 {
		fmt.Fprintln(stdout, "migrate: up to date")
	}
	for _, m := range applied {
		fmt.Fprintln(stdout, "migrate: applied", m)
	}
	return nil
}

// CheckError lists every problem that check found.
type CheckError struct{ Problems []string }

func (e *CheckError) Error() string {
	return fmt.Sprintf("check found %d problem(s):\n  - %s", len(e.Problems), strings.Join(e.Problems, "\n  - "))
}

// runCheck validates the config, connects to MySQL, detects WooCommerce's
// storage mode and table prefix and verifies the tables. It goes as far as
// it can and reports every problem at once.
func runCheck(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	var strict bool
	cfg, _, err := commandConfig("check", args, env, stdout, stderr, func(fs *flag.FlagSet) {
		fs.BoolVar(&strict, "strict", false, "count migrations not yet applied as a problem (serve applies them at start)")
	})
	if errors.Is(err, errHelp) || errors.Is(err, errUsage) {
		return err
	}
	var problems []string
	var ce *ConfigError
	switch {
	case errors.As(err, &ce):
		for _, e := range ce.Errs {
			problems = append(problems, "config: "+e.Error())
		}
	case err != nil:
		return err
	default:
		fmt.Fprintln(stdout, "config: ok")
	}
	report := func() error {
		if len(problems) == 0 {
			fmt.Fprintln(stdout, "check: ok")
			return nil
		}
		return &CheckError{Problems: problems}
	}
	if cfg == nil || cfg.Database.DSN == "" || !prefixPattern.MatchString(cfg.Database.TablePrefix) {
		return report()
	}
	db, err := openDB(ctx, cfg.Database.DSN, 2)
	if err != nil {
		problems = append(problems, "database: "+err.Error())
		return report()
	}
	defer db.Close()
	fmt.Fprintln(stdout, "database: connected")

	prefixes, err := woo.DetectPrefixes(ctx, db)
	if err != nil {
		problems = append(problems, "database: detect table prefix: "+err.Error())
	} else {
		fmt.Fprintf(stdout, "woocommerce: table prefixes found: %s\n", strings.Join(prefixes, ", "))
		found := false
		for _, p := range prefixes {
			found = found || p == cfg.Database.TablePrefix
		}
		if !found {
			problems = append(problems, fmt.Sprintf("database.table_prefix: no WooCommerce tables with prefix %q (found: %s)", cfg.Database.TablePrefix, strings.Join(prefixes, ", ")))
		}
	}
	ws, err := woo.New(db, cfg.Database.TablePrefix, woo.Options{})
	if err != nil {
		problems = append(problems, "woocommerce: "+err.Error())
		return report()
	}
	rep, errs := ws.Check(ctx)
	fmt.Fprintf(stdout, "woocommerce: prefix %s, storage mode %s, site timezone %s\n", cfg.Database.TablePrefix, rep.Mode, rep.Timezone)
	for _, e := range errs {
		problems = append(problems, "woocommerce: "+e.Error())
	}
	st, err := store.Open(db, cfg.Database.TablePrefix, store.Options{})
	if err != nil {
		problems = append(problems, "sidecar tables: "+err.Error())
		return report()
	}
	pending, err := st.Pending(ctx)
	switch {
	case err != nil:
		problems = append(problems, "sidecar tables: "+err.Error())
	case len(pending) > 0 && strict:
		problems = append(problems, fmt.Sprintf("sidecar tables: %d migration(s) not applied (%s): run `wcbridge migrate`", len(pending), strings.Join(pending, ", ")))
	case len(pending) > 0:
		fmt.Fprintf(stdout, "sidecar tables: %d migration(s) to apply (%s): serve applies them at start, or run `wcbridge migrate`\n", len(pending), strings.Join(pending, ", "))
	default:
		fmt.Fprintln(stdout, "sidecar tables: up to date")
	}
	return report()
}

// runUninstall drops the sidecar's own tables; without --yes it lists them.
func runUninstall(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	var yes bool
	cfg, _, err := commandConfig("uninstall", args, env, stdout, stderr, func(fs *flag.FlagSet) {
		fs.BoolVar(&yes, "yes", false, "really drop the tables")
	})
	if err != nil {
		return err
	}
	db, err := openDB(ctx, cfg.Database.DSN, 2)
	if err != nil {
		return err
	}
	defer db.Close()
	st, err := store.Open(db, cfg.Database.TablePrefix, store.Options{})
	if err != nil {
		return err
	}
	tables, err := st.Tables(ctx)
	if err != nil {
		return fmt.Errorf("uninstall: %w", err)
	}
	if len(tables) == 0 {
		fmt.Fprintf(stdout, "uninstall: no %swcbridge_* tables: nothing to do\n", cfg.Database.TablePrefix)
		return nil
	}
	if !yes {
		fmt.Fprintf(stdout, "uninstall would drop: %s\n", strings.Join(tables, ", "))
		return fmt.Errorf("%w: uninstall drops the sidecar's tables for good; run it again with --yes", errUsage)
	}
	dropped, err := st.Drop(ctx)
	for _, t := range dropped {
		fmt.Fprintln(stdout, "uninstall: dropped", t)
	}
	if err != nil {
		return fmt.Errorf("uninstall: %w", err)
	}
	fmt.Fprintln(stdout, "uninstall: done; WooCommerce's tables were not touched")
	return nil
}
