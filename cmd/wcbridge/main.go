// Command wcbridge is the sidecar that lets a WooCommerce store take crypto
// payments through StreamPay, CryptoCloud and Bitstream.
//
//	wcbridge serve    --config config.yaml   run the HTTP server and workers
//	wcbridge migrate  --config config.yaml   create or update the sidecar's tables
//	wcbridge check    --config config.yaml   validate config, database and WooCommerce tables (--strict: pending migrations too)
//	wcbridge simulate                        run the three gateway simulators on loopback
//	wcbridge demo                            a whole shop on an embedded database (-tags demo)
//	wcbridge version
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = "0.1.0-dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "wcbridge:", err)
		os.Exit(exitCode(err))
	}
}

// errUsage marks a command-line mistake (exit status 2).
var errUsage = errors.New("usage")

func exitCode(err error) int {
	if errors.Is(err, errUsage) {
		return 2
	}
	return 1
}

const usage = `usage: wcbridge <command> [flags]

commands:
  serve      run the sidecar (HTTP API, callback endpoints, reconciler, outbox)
  migrate    create or update the sidecar's own tables
  check      validate the config, connect to MySQL, detect WooCommerce's storage
             mode and table prefix, verify the tables; exits non-zero on problems
             (migrations serve applies at start are not one, unless --strict)
  simulate   run the StreamPay, CryptoCloud and Bitstream simulators on loopback
  demo       run a whole shop on an embedded database: the sidecar, the three
             simulators and a demo page (needs a build with -tags demo)
  health     ask a running sidecar's /readyz (for container health checks)
  uninstall  drop the sidecar's own tables ({prefix}wcbridge_*); needs --yes
  version    print the version

Every command that reads a config takes --config PATH (default: $WCBRIDGE_CONFIG,
else no file: defaults and WCBRIDGE_* environment variables only).
wcbridge <command> --help describes a command, its flags and its variables.
`

// run is the whole program; tests call it like main does.
func run(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: no command given", errUsage)
	}
	cmd, rest := args[0], args[1:]
	err := runCommand(ctx, cmd, rest, env, stdout, stderr)
	if errors.Is(err, errHelp) {
		return nil
	}
	return err
}

func runCommand(ctx context.Context, cmd string, rest, env []string, stdout, stderr io.Writer) error {
	switch cmd {
	case "serve":
		return runServe(ctx, rest, env, stdout, stderr)
	case "migrate":
		return runMigrate(ctx, rest, env, stdout, stderr)
	case "check":
		return runCheck(ctx, rest, env, stdout, stderr)
	case "simulate":
		return runSimulate(ctx, rest, env, stdout, stderr)
	case "demo":
		return runDemo(ctx, rest, env, stdout, stderr)
	case "health":
		return runHealth(ctx, rest, env, stdout, stderr)
	case "uninstall":
		return runUninstall(ctx, rest, env, stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "wcbridge %s\n", Version)
		return nil
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("%w: unknown command %q", errUsage, cmd)
}

// getenv looks a variable up in env (not the process environment, so tests
// stay hermetic).
func getenv(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := cutEnv(env[i]); ok && k == key {
			return v
		}
	}
	return ""
}

func cutEnv(kv string) (string, string, bool) {
	for i := 0; i < len(kv); i++ {
		if kv[i] == '=' {
			return kv[:i], kv[i+1:], true
		}
	}
	return "", "", false
}
