package main

import (
	"context"
	"io"
)

// runSimulate is `wcbridge simulate`.
func runSimulate(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	return nil
}
