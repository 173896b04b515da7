package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// errHelp means the command's help was asked for and printed (exit status 0).
var errHelp = errors.New("help shown")

// commandHelp describes one command for `wcbridge <command> --help`.
type commandHelp struct {
	Summary string
	// Env: "config" for commands that read the whole configuration,
	// "listen" for health (it needs the listen address only), "" for none.
	Env string
}

var commands = map[string]commandHelp{
	"serve": {Env: "config", Summary: `Runs the sidecar: the plugin's API, the gateways' callback endpoints,
/healthz, /readyz and /metrics, the reconciler that asks the gateways about
open payments, and the outbox that notifies WordPress. It creates or updates
its own tables first, waits for the database
while it is not up yet (database.startup_wait), and refuses a database without WooCommerce's tables
under database.table_prefix. It stops cleanly on SIGINT or SIGTERM.`},
	"migrate": {Env: "config", Summary: `Creates or updates the sidecar's own tables ({prefix}wcbridge_*) and exits.
serve does the same at start; run it on its own to migrate ahead of a deploy.`},
	"check": {Env: "config", Summary: `Validates the configuration, connects to the database, finds WooCommerce's
table prefixes and storage mode, and verifies the tables. Every problem is
listed at once and the exit status is 1 if there is any. Migrations that
serve will apply at start are reported as information; with --strict they
are a problem too (for a deploy that runs migrate separately).`},
	"health": {Env: "listen", Summary: `Asks a running sidecar's /readyz and exits 0 when it answers 200, 1 otherwise.
The address comes from the same configuration as serve's (server.listen,
with 0.0.0.0 or :: asked on loopback), so a container's HEALTHCHECK follows
WCBRIDGE_SERVER_LISTEN; --url overrides it.`},
	"uninstall": {Env: "config", Summary: `Drops the sidecar's own tables ({prefix}wcbridge_*: payments, callbacks,
outbox, settings, request ids, migrations) from the WordPress database, for
good: the payment records, the gateway secrets saved from WordPress and the
undelivered notifications go with them. WooCommerce's tables and orders are
not touched (the order notes and _wcbridge_* order meta stay). Without --yes
it only lists what it would drop. Stop every replica first.`},
	"simulate": {Summary: `Runs the StreamPay, CryptoCloud and Bitstream simulators on loopback and
prints the WCBRIDGE_* variables that point a sidecar at them.`},
	"demo": {Summary: `Runs a whole shop on an embedded database: the sidecar, the three gateway
simulators and a demo page, all on loopback. Needs a build with -tags demo:
go run -tags demo ./cmd/wcbridge demo`},
}

// parseFlags parses a command's flags. --help (or -h) prints the command's
// help to stdout and returns errHelp; a bad flag prints it to stderr.
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		printHelp(stdout, fs)
		return errHelp
	case err != nil:
		fmt.Fprintf(stderr, "wcbridge %s: %v\n\n", fs.Name(), err)
		printHelp(stderr, fs)
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return nil
}

func printHelp(w io.Writer, fs *flag.FlagSet) {
	h := commands[fs.Name()]
	fmt.Fprintf(w, "usage: wcbridge %s [flags]\n\n%s\n", fs.Name(), h.Summary)
	var flags strings.Builder
	fs.SetOutput(&flags)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	if flags.Len() > 0 {
		fmt.Fprintf(w, "\nflags:\n%s", flags.String())
	}
	switch h.Env {
	case "config":
		fmt.Fprint(w, envHelp(true))
	case "listen":
		fmt.Fprint(w, envHelp(false))
	}
}

// envHelp lists the variables a command reads: the config file's path and,
// for the commands that read the whole configuration, every setting's
// variable (config.example.yaml documents each).
func envHelp(all bool) string {
	var b strings.Builder
	b.WriteString("\nenvironment:\n")
	b.WriteString("  WCBRIDGE_CONFIG  path of the YAML config file (the default of --config)\n")
	if !all {
		b.WriteString("  WCBRIDGE_SERVER_LISTEN  the address serve listens on (server.listen)\n")
		b.WriteString("  (the other WCBRIDGE_* settings are read and checked as serve does)\n")
		return b.String()
	}
	b.WriteString("  Every setting of config.example.yaml, which wins over the file: its path in\n")
	b.WriteString("  upper case with \"_\" for \".\", e.g. database.dsn is WCBRIDGE_DATABASE_DSN.\n")
	b.WriteString("  Lists are comma-separated, maps key=value,key=value. A WCBRIDGE_* variable\n")
	b.WriteString("  that names no setting is an error.\n\n")
	cfg := DefaultConfig()
	for _, f := range cfg.fields() {
		fmt.Fprintf(&b, "  %-58s %s\n", EnvName(f.Path), f.Path)
	}
	return b.String()
}
