package docker_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/woo/wootest"
)

// Environment of the image test.
const (
	// envRequireDocker makes a missing engine a failure instead of a skip (CI
	// starts one).
	envRequireDocker = "WCBRIDGE_TEST_REQUIRE_DOCKER"
	// envDockerCLI names the docker client to use (default: docker on PATH).
	envDockerCLI = "WCBRIDGE_TEST_DOCKER_CLI"
)

// dockerCLI runs the docker client with extra environment.
type dockerCLI struct {
	t   *testing.T
	bin string
}

func (d dockerCLI) run(env []string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, d.bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (d dockerCLI) must(env []string, args ...string) string {
	d.t.Helper()
	out, err := d.run(env, args...)
	if err != nil {
		d.t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, tail(out, 60))
	}
	return out
}

func tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

// engine returns the docker client when an engine answers; otherwise the test
// skips (saying why), or fails when CI asked for the engine.
func engine(t *testing.T) dockerCLI {
	t.Helper()
	bin := os.Getenv(envDockerCLI)
	if bin == "" {
		bin = "docker"
	}
	no := func(why string) {
		if os.Getenv(envRequireDocker) == "1" {
			t.Fatalf("%s=1 but %s", envRequireDocker, why)
		}
		t.Skipf("no Docker engine, the image is not built or run here: %s", why)
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		no(fmt.Sprintf("no docker client (%v)", err))
	}
	d := dockerCLI{t: t, bin: path}
	if out, err := d.run(nil, "version", "--format", "{{.Server.Version}}"); err != nil {
		no(fmt.Sprintf("the engine does not answer (%v): %s", err, tail(out, 3)))
	}
	return d
}

// TestImage builds docker/Dockerfile and runs it as a host would: the
// container runs as a non-root user, its health check follows a
// non-default port set by WCBRIDGE_SERVER_LISTEN, it serves, and it stops
// cleanly on docker stop. Registries cannot be reached here, so the base
// images are stand-ins made from this machine (the Go toolchain and module
// cache, an empty runtime with a nonroot user) and passed as the
// Dockerfile's GO_IMAGE and RUNTIME_IMAGE build arguments.
func TestImage(t *testing.T) {
	d := engine(t)
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	goImage := standInGo(t, d, root)
	runtimeImage := standInRuntime(t, d)
	id := fmt.Sprintf("%d", time.Now().UnixNano())
	tag := "wcbridge-test/image:" + id
	buildArgs := []string{
		"--build-arg", "GO_IMAGE=" + goImage,
		"--build-arg", "RUNTIME_IMAGE=" + runtimeImage,
		"--build-arg", "VERSION=9.9.9-test",
		"--build-arg", "REVISION=" + id,
	}
	classic := []string{"DOCKER_BUILDKIT=0"}

	// The classic builder: it reads only the context root's .dockerignore.
	start := time.Now()
	d.must(classic, append(append([]string{"build", "--network", "none", "-f", filepath.Join(root, "docker", "Dockerfile"), "-t", tag}, buildArgs...), root)...)
	t.Logf("image built in %s", time.Since(start).Round(time.Second))
	t.Cleanup(func() { d.run(nil, "rmi", "-f", tag) })

	t.Run("dockerignore", func(t *testing.T) {
		d := dockerCLI{t: t, bin: d.bin}
		stage := tag + "-build"
		d.must(classic, append(append([]string{"build", "--network", "none", "-f", filepath.Join(root, "docker", "Dockerfile"), "--target", "build", "-t", stage}, buildArgs...), root)...)
		defer d.run(nil, "rmi", "-f", stage)
		out, err := d.run(nil, "run", "--rm", "--network", "none", "--entrypoint", "/bin/sh", stage, "-c",
			"for f in .git plugin-php docs dist cmd/wcbridge/e2e_test.go; do [ -e /src/$f ] && echo \"in context: $f\"; done; [ -f /src/go.mod ] || echo 'go.mod missing'; true")
		if err != nil || strings.TrimSpace(out) != "" {
			t.Errorf("the classic builder's context is not what .dockerignore says: %v\n%s", err, out)
		}
	})

	t.Run("metadata", func(t *testing.T) {
		d := dockerCLI{t: t, bin: d.bin}
		var img []struct {
			Config struct {
				User        string
				Labels      map[string]string
				Healthcheck struct{ Test []string }
				Entrypoint  []string
				Cmd         []string
				StopSignal  string
			}
		}
		if err := json.Unmarshal([]byte(d.must(nil, "image", "inspect", tag)), &img); err != nil || len(img) != 1 {
			t.Fatalf("inspect: %v", err)
		}
		c := img[0].Config
		if c.User != "65532:65532" {
			t.Errorf("user %q, want 65532:65532", c.User)
		}
		if got := strings.Join(c.Healthcheck.Test, " "); got != "CMD /wcbridge health" {
			t.Errorf("healthcheck %q", got)
		}
		for k, want := range map[string]string{
			"org.opencontainers.image.licenses": "GPL-2.0-or-later",
			"org.opencontainers.image.version":  "9.9.9-test",
			"org.opencontainers.image.revision": id,
			"org.opencontainers.image.source":   "https://github.com/wcbridge/wcbridge",
			"org.opencontainers.image.title":    "wcbridge",
		} {
			if c.Labels[k] != want {
				t.Errorf("label %s = %q, want %q", k, c.Labels[k], want)
			}
		}
	})

	t.Run("runs", func(t *testing.T) {
		d := dockerCLI{t: t, bin: d.bin}
		store := wootest.NewStore(t, bridge.StorageHPOS, "wp_")
		port := freePort(t)
		name := "wcbridge-test-" + id
		// Host networking: the test's database is on this machine's loopback.
		d.must(nil, "run", "-d", "--name", name, "--network", "host",
			"-e", "WCBRIDGE_SERVER_LISTEN=127.0.0.1:"+port,
			"-e", "WCBRIDGE_DATABASE_DSN="+store.DSN,
			"-e", "WCBRIDGE_PLUGIN_SHARED_SECRET=image-test-secret-0123456789abcdef",
			"-e", "WCBRIDGE_WORDPRESS_URL=http://127.0.0.1:9",
			"-e", "WCBRIDGE_SERVER_SHUTDOWN_TIMEOUT=10s",
			// The image's health check command, run often so the test is short.
			"--health-interval", "1s", "--health-timeout", "3s", "--health-start-period", "2s", "--health-retries", "2",
			tag)
		t.Cleanup(func() { d.run(nil, "rm", "-f", name) })

		var st struct {
			Running  bool
			Pid      int
			ExitCode int
			Health   struct{ Status string }
		}
		inspect := func() {
			if err := json.Unmarshal([]byte(d.must(nil, "inspect", "-f", "{{json .State}}", name)), &st); err != nil {
				t.Fatal(err)
			}
		}
		deadline := time.Now().Add(90 * time.Second)
		for inspect(); st.Health.Status != "healthy"; inspect() {
			if !st.Running || time.Now().After(deadline) {
				logs, _ := d.run(nil, "logs", name)
				t.Fatalf("not healthy on port %s (running %v, health %q):\n%s", port, st.Running, st.Health.Status, tail(logs, 30))
			}
			time.Sleep(500 * time.Millisecond)
		}
		resp, err := http.Get("http://127.0.0.1:" + port + "/readyz")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("readyz from the host: %v %v", resp, err)
		}
		resp.Body.Close()

		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", st.Pid))
		if err != nil {
			t.Fatalf("read the process's status: %v", err)
		}
		if m := regexp.MustCompile(`(?m)^Uid:\s+(\d+)\s+(\d+)`).FindSubmatch(status); m == nil || string(m[1]) != "65532" || string(m[2]) != "65532" {
			t.Errorf("the sidecar runs as uid %q, want 65532 (not root)", m)
		}

		start := time.Now()
		d.must(nil, "stop", "-t", "30", name)
		took := time.Since(start)
		inspect()
		if st.ExitCode != 0 || took > 20*time.Second {
			t.Errorf("docker stop: exit code %d after %s, want 0 well before the 30s kill", st.ExitCode, took.Round(time.Millisecond))
		}
		logs := d.must(nil, "logs", name)
		for i, line := range strings.Split(strings.TrimSpace(logs), "\n") {
			if !json.Valid([]byte(line)) {
				t.Errorf("log line %d is not JSON: %q", i+1, line)
			}
		}
		if !strings.Contains(logs, `"msg":"stopped"`) {
			t.Errorf("no stopped record in the log:\n%s", tail(logs, 10))
		}
	})

	// BuildKit, when the client has it: a build for another platform runs
	// the compiler on the build machine (no emulator is installed here: a
	// stage run for arm64 would fail) and produces an arm64 binary.
	t.Run("cross-compiles", func(t *testing.T) {
		d := dockerCLI{t: t, bin: d.bin}
		stage := tag + "-arm64"
		out, err := d.run([]string{"DOCKER_BUILDKIT=1"}, append(append([]string{"build", "--network", "none", "--platform", "linux/arm64", "--progress", "plain",
			"-f", filepath.Join(root, "docker", "Dockerfile"), "--target", "build", "-t", stage}, buildArgs...), root)...)
		if err != nil && strings.Contains(out, "buildx") {
			if os.Getenv(envRequireDocker) == "1" {
				t.Fatalf("the docker client has no BuildKit builder (set %s to a client that has): %s", envDockerCLI, tail(out, 5))
			}
			t.Skipf("the docker client has no BuildKit builder: %s", tail(out, 3))
		}
		if err != nil {
			t.Fatalf("BuildKit build for linux/arm64: %v\n%s", err, tail(out, 40))
		}
		defer d.run(nil, "rmi", "-f", stage)
		// The last line is the id (a platform warning may come first).
		ctr := lastLine(d.must(nil, "create", "--platform", "linux/arm64", stage, "/out/wcbridge"))
		defer d.run(nil, "rm", "-f", ctr)
		bin := filepath.Join(t.TempDir(), "wcbridge")
		d.must(nil, "cp", ctr+":/out/wcbridge", bin)
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if f.Machine != elf.EM_AARCH64 {
			t.Errorf("binary for %v, want arm64 (EM_AARCH64)", f.Machine)
		}
	})
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// standInGo imports a build image made from this machine: the Go toolchain
// that runs the tests, /bin/sh with its libraries, and a module proxy
// directory holding exactly the modules go.sum names (so the Dockerfile's
// go mod download works with no network). Reused while Go and go.sum stay.
func standInGo(t *testing.T, d dockerCLI, root string) string {
	t.Helper()
	goroot := strings.TrimSpace(run(t, root, nil, "go", "env", "GOROOT"))
	modcache := strings.TrimSpace(run(t, root, nil, "go", "env", "GOMODCACHE"))
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	version := strings.TrimSpace(run(t, root, nil, "go", "env", "GOVERSION"))
	h := sha256.Sum256(append([]byte(version+"\n"), sum...))
	tag := "wcbridge-test/go:" + hex.EncodeToString(h[:6])
	if _, err := d.run(nil, "image", "inspect", tag); err == nil {
		return tag
	}
	// Every module go.mod names, zips included (tidy fetches only go.mod
	// files of modules no build needs), then copied as a file proxy.
	run(t, root, nil, "go", "mod", "download")
	proxy := t.TempDir()
	run(t, root, []string{"GOMODCACHE=" + proxy, "GOPROXY=file://" + filepath.Join(modcache, "cache", "download"), "GOSUMDB=off", "GOFLAGS=-mod=mod"}, "go", "mod", "download")
	files := []mapping{{filepath.Join(proxy, "cache", "download"), "goproxy"}, {goroot, "usr/local/go"}, {"/bin/dash", "bin/sh"}}
	for _, lib := range sharedLibs(t, "/bin/dash") {
		files = append(files, mapping{lib, strings.TrimPrefix(lib, "/")})
	}
	importImage(t, d, tag, files, []string{"tmp", "root", "go"},
		"ENV PATH=/usr/local/go/bin:/bin", "ENV GOPROXY=file:///goproxy", "ENV GOSUMDB=off",
		"ENV GOTOOLCHAIN=local", "ENV GOPATH=/go", "ENV HOME=/root", "WORKDIR /")
	// The proxy directory's module files are read-only: let t.TempDir remove them.
	filepath.WalkDir(proxy, func(p string, e fs.DirEntry, err error) error {
		if err == nil && e.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
	return tag
}

// standInRuntime imports a runtime image like distroless/static: no shell,
// CA certificates, a nonroot user 65532.
func standInRuntime(t *testing.T, d dockerCLI) string {
	t.Helper()
	tag := "wcbridge-test/static:1"
	if _, err := d.run(nil, "image", "inspect", tag); err == nil {
		return tag
	}
	dir := t.TempDir()
	etc := filepath.Join(dir, "etc")
	os.MkdirAll(etc, 0o755)
	os.WriteFile(filepath.Join(etc, "passwd"), []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"), 0o644)
	os.WriteFile(filepath.Join(etc, "group"), []byte("root:x:0:\nnonroot:x:65532:\n"), 0o644)
	files := []mapping{{etc, "etc"}}
	if _, err := os.Stat("/etc/ssl/certs/ca-certificates.crt"); err == nil {
		files = append(files, mapping{"/etc/ssl/certs/ca-certificates.crt", "etc/ssl/certs/ca-certificates.crt"})
	}
	importImage(t, d, tag, files, []string{"tmp", "home/nonroot"})
	return tag
}

type mapping struct{ from, to string }

// importImage streams a root file system made of files (each a file or a
// directory tree) and empty dirs to docker import.
func importImage(t *testing.T, d dockerCLI, tag string, files []mapping, dirs []string, changes ...string) {
	t.Helper()
	args := []string{"import"}
	for _, c := range changes {
		args = append(args, "--change", c)
	}
	args = append(args, "-", tag)
	cmd := exec.Command(d.bin, args...)
	pr, pw := io.Pipe()
	cmd.Stdin = pr
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	werr := make(chan error, 1)
	go func() {
		tw := tar.NewWriter(pw)
		err := func() error {
			for _, dir := range dirs {
				if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o1777, ModTime: time.Unix(0, 0)}); err != nil {
					return err
				}
			}
			for _, m := range files {
				if err := addTree(tw, m.from, m.to); err != nil {
					return err
				}
			}
			return tw.Close()
		}()
		pw.CloseWithError(err)
		werr <- err
	}()
	err := cmd.Wait()
	if e := <-werr; e != nil {
		t.Fatalf("write the root file system of %s: %v", tag, e)
	}
	if err != nil {
		t.Fatalf("docker import %s: %v\n%s", tag, err, out.String())
	}
}

func addTree(tw *tar.Writer, from, to string) error {
	return filepath.WalkDir(from, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		name := filepath.ToSlash(filepath.Join(to, rel))
		// The top of a tree is taken for what it points to (/bin/sh, the
		// loader); links inside a tree stay links.
		stat := os.Lstat
		if p == from {
			stat = os.Stat
		}
		info, err := stat(p)
		if err != nil {
			return err
		}
		if p != from && info.IsDir() && (rel == "test" || strings.HasPrefix(rel, "test/")) && strings.HasSuffix(to, "usr/local/go") {
			return filepath.SkipDir // the Go distribution's own test suite
		}
		link := ""
		if info.Mode()&os.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		hdr.Name, hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = name, 0, 0, "", ""
		if info.IsDir() {
			hdr.Name += "/"
			hdr.Mode |= 0o755
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := io.Copy(tw, f); err != nil {
				return err
			}
		}
		return nil
	})
}

// sharedLibs lists the shared libraries a host binary loads (ldd's paths;
// the image gets each file's content under that path, links followed).
func sharedLibs(t *testing.T, bin string) []string {
	t.Helper()
	var libs []string
	for _, f := range strings.Fields(run(t, "/", nil, "ldd", bin)) {
		if strings.HasPrefix(f, "/") {
			libs = append(libs, f)
		}
	}
	return libs
}

func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, tail(string(out), 20))
	}
	return string(out)
}

func lastLine(s string) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(l[len(l)-1])
}
