package main

import (
	"bytes"
	"context"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestSimulateCommand(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"simulate", "--streampay", "127.0.0.1:0", "--cryptocloud", "127.0.0.1:0", "--bitstream", "127.0.0.1:0"}, nil, &out, &errOut)
	}()
	urlRE := regexp.MustCompile(`(?m)^\s+(streampay|cryptocloud|bitstream)\s+(http://127\.0\.0\.1:\d+)$`)
	waitFor(t, "the three simulator URLs", 5*time.Second, func() bool { return len(urlRE.FindAllString(out.String(), -1)) == 3 })
	for _, m := range urlRE.FindAllStringSubmatch(out.String(), -1) {
		resp, err := http.Get(m[2] + "/")
		if err != nil {
			t.Fatalf("%s simulator at %s: %v", m[1], m[2], err)
		}
		resp.Body.Close()
	}
	if !strings.Contains(out.String(), "export WCBRIDGE_GATEWAYS_CRYPTOCLOUD_BASE_URL=http://127.0.0.1:") {
		t.Errorf("no settings printed:\n%s", out.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("simulate: %v", err)
	}
	if err := run(context.Background(), []string{"simulate", "--streampay", "0.0.0.0:0"}, nil, &out, &errOut); exitCode(err) != 2 {
		t.Fatalf("a non-loopback address must be refused: %v", err)
	}
}
