package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// runHealth is `wcbridge health`: it asks a running sidecar's readiness
// endpoint and exits non-zero unless it answers 200. Container images
// without a shell use it as their HEALTHCHECK, so the address comes from the
// same configuration serve reads (WCBRIDGE_SERVER_LISTEN or the file), not
// from a port written into the image.
func runHealth(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	var url string
	var timeout time.Duration
	cfg, _, err := commandConfig("health", args, env, stdout, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&url, "url", "", "readiness URL to ask (default: /readyz on server.listen, loopback for 0.0.0.0 and ::)")
		fs.DurationVar(&timeout, "timeout", 3*time.Second, "how long to wait for the answer")
	})
	if errors.Is(err, errHelp) || errors.Is(err, errUsage) {
		return err
	}
	if url == "" {
		var ce *ConfigError
		if err != nil && !errors.As(err, &ce) {
			return fmt.Errorf("health: %w", err)
		}
		// Problems elsewhere in the configuration are serve's to report;
		// the listen address is all health needs.
		if cfg == nil || cfg.Server.Listen == "" {
			return fmt.Errorf("health: no server.listen to ask: %w", err)
		}
		url, err = readyURL(cfg.Server.Listen)
		if err != nil {
			return fmt.Errorf("health: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("%w: bad --url: %v", errUsage, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("health: %s answered %d: %s", url, resp.StatusCode, body)
	}
	fmt.Fprintln(stdout, "healthy")
	return nil
}

// readyURL is the readiness URL of a sidecar listening on listen; an
// unspecified host (all interfaces) is asked on loopback.
func readyURL(listen string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("server.listen %q: %v", listen, err)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/readyz", nil
}
