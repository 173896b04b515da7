// Package gatewaytest is what the gateway packages' tests share: golden
// files for wire shapes (rewritten with go test -update) and a recorder that
// sits in front of a simulator and keeps every exchange.
package gatewaytest

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// Golden compares got with testdata/name, or rewrites the file under
// -update. JSON is compared indented, so the files stay readable; anything
// else byte for byte.
func Golden(t testing.TB, name string, got []byte) {
	t.Helper()
	if trimmed := bytes.TrimSpace(got); json.Valid(trimmed) {
		var buf bytes.Buffer
		if err := json.Indent(&buf, trimmed, "", "  "); err != nil {
			t.Fatal(err)
		}
		buf.WriteByte('\n')
		got = buf.Bytes()
	}
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

// Exchange is one request to the simulator and its answer.
type Exchange struct {
	Method, Path, Auth, ContentType string
	Request, Response               []byte
	Status                          int
}

// Recorder is an http.Handler that passes every request to Next and keeps
// the exchange.
type Recorder struct {
	Next http.Handler
	mu   sync.Mutex
	ex   []Exchange
}

// ServeHTTP passes r on and records what went each way.
func (rec *Recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	rw := httptest.NewRecorder()
	rec.Next.ServeHTTP(rw, r)
	rec.mu.Lock()
	rec.ex = append(rec.ex, Exchange{r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), body, rw.Body.Bytes(), rw.Code})
	rec.mu.Unlock()
	for k, v := range rw.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rw.Code)
	_, _ = w.Write(rw.Body.Bytes())
}

// Exchanges returns every exchange, oldest first.
func (rec *Recorder) Exchanges() []Exchange {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]Exchange(nil), rec.ex...)
}

// Last returns the latest exchange.
func (rec *Recorder) Last(t testing.TB) Exchange {
	t.Helper()
	ex := rec.Exchanges()
	if len(ex) == 0 {
		t.Fatal("no exchange recorded")
	}
	return ex[len(ex)-1]
}

// ForPath returns the latest exchange on path.
func (rec *Recorder) ForPath(t testing.TB, path string) Exchange {
	t.Helper()
	ex := rec.Exchanges()
	for i := len(ex) - 1; i >= 0; i-- {
		if ex[i].Path == path {
			return ex[i]
		}
	}
	t.Fatalf("no exchange on %s", path)
	return Exchange{}
}
