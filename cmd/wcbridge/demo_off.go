//go:build !demo

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
)

// runDemo explains how to get the demo: its embedded database is kept out of
// the production binary.
func runDemo(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	if err := parseFlags(flag.NewFlagSet("demo", flag.ContinueOnError), args, stdout, stderr); errors.Is(err, errHelp) {
		return err
	}
	return fmt.Errorf("%w: this binary was built without the demo; run it with: go run -tags demo ./cmd/wcbridge demo", errUsage)
}
