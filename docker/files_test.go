package docker_test

import (
	"bufio"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// configEnvNames returns the WCBRIDGE_* name of every field documented in
// config.example.yaml (the YAML path in upper case, "." "+" "-" as "_"), the
// same rule as the sidecar's config loader.
func configEnvNames(t *testing.T) map[string]bool {
	t.Helper()
	raw, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("config.example.yaml: %v", err)
	}
	names := map[string]bool{"WCBRIDGE_CONFIG": true} // the config file's path
	r := strings.NewReplacer(".", "_", "+", "_", "-", "_")
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		if n.Kind == yaml.DocumentNode {
			walk(n.Content[0], path)
			return
		}
		// Sections nest two deep (gateways.bitstream); a map deeper than that
		// (gateways.bitstream.currency_map) is one field's value, set from one
		// variable as "key=value,...".
		if n.Kind != yaml.MappingNode || strings.Count(path, ".") >= 2 {
			names["WCBRIDGE_"+strings.ToUpper(r.Replace(path))] = true
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := n.Content[i].Value
			if path != "" {
				p = path + "." + p
			}
			walk(n.Content[i+1], p)
		}
	}
	walk(&doc, "")
	return names
}

type composeFile struct {
	Name     string                    `yaml:"name"`
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Build       *composeBuild     `yaml:"build"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	Volumes     []string          `yaml:"volumes"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
	User        string `yaml:"user"`
	NetworkMode string `yaml:"network_mode"`
}

type composeBuild struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	raw, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return c
}

func TestComposeServices(t *testing.T) {
	c := loadCompose(t)
	for _, name := range []string{"db", "wordpress", "wcbridge"} {
		s, ok := c.Services[name]
		if !ok {
			t.Fatalf("compose.yaml has no %q service", name)
		}
		if s.Healthcheck == nil || len(s.Healthcheck.Test) == 0 {
			t.Errorf("service %s has no healthcheck", name)
		}
	}
	if got := c.Services["db"].Image; got != "mariadb:10.11" {
		t.Errorf("db image = %q, want mariadb:10.11", got)
	}
	if got := c.Services["wordpress"].Image; !strings.HasPrefix(got, "wordpress:") {
		t.Errorf("wordpress image = %q, want the official wordpress image", got)
	}
	mounted := false
	for _, v := range c.Services["wordpress"].Volumes {
		if strings.HasPrefix(v, "../plugin-php:/var/www/html/wp-content/plugins/wcbridge") {
			mounted = true
		}
	}
	if !mounted {
		t.Errorf("wordpress does not mount ../plugin-php as wp-content/plugins/wcbridge: %q", c.Services["wordpress"].Volumes)
	}

	w := c.Services["wcbridge"]
	if w.Build == nil || w.Build.Context != ".." || w.Build.Dockerfile != "docker/Dockerfile" {
		t.Errorf("wcbridge build = %+v, want context .. and docker/Dockerfile", w.Build)
	}
	if w.User != "" && (w.User == "root" || strings.HasPrefix(w.User, "0")) {
		t.Errorf("wcbridge runs as %q", w.User)
	}
	// health reads WCBRIDGE_SERVER_LISTEN like serve: no port written here.
	if got := strings.Join(w.Healthcheck.Test, " "); got != "CMD /wcbridge health" {
		t.Errorf("wcbridge healthcheck = %q", got)
	}
	if dep, ok := w.DependsOn["db"]; !ok || dep.Condition != "service_healthy" {
		t.Errorf("wcbridge must wait for a healthy db: %+v", w.DependsOn)
	}
	if dep, ok := c.Services["wordpress"].DependsOn["db"]; !ok || dep.Condition != "service_healthy" {
		t.Errorf("wordpress must wait for a healthy db: %+v", c.Services["wordpress"].DependsOn)
	}
	for _, need := range []string{"WCBRIDGE_DATABASE_DSN", "WCBRIDGE_PLUGIN_SHARED_SECRET", "WCBRIDGE_WORDPRESS_URL", "WCBRIDGE_SERVER_PUBLIC_URL", "WCBRIDGE_SERVER_LISTEN"} {
		if w.Environment[need] == "" {
			t.Errorf("wcbridge service does not set %s", need)
		}
	}
	if got := w.Environment["WCBRIDGE_SERVER_LISTEN"]; got != "0.0.0.0:8080" {
		t.Errorf("WCBRIDGE_SERVER_LISTEN = %q, want 0.0.0.0:8080", got)
	}
	// Secrets come from the environment (.env), never written in the file.
	for _, secret := range []string{"WCBRIDGE_PLUGIN_SHARED_SECRET", "WCBRIDGE_DATABASE_DSN"} {
		if v := w.Environment[secret]; !strings.Contains(v, "${") {
			t.Errorf("%s is written in compose.yaml (%q); take it from .env", secret, v)
		}
	}
}

// TestComposeEnvNamesConfigFields keeps every WCBRIDGE_* variable in the
// compose file, the env example and the Dockerfile a real config field: a
// misspelt variable would otherwise be silently ignored.
func TestComposeEnvNamesConfigFields(t *testing.T) {
	known := configEnvNames(t)
	for _, must := range []string{"WCBRIDGE_DATABASE_DSN", "WCBRIDGE_GATEWAYS_STREAMPAY_SECRET_KEY", "WCBRIDGE_GATEWAYS_BITSTREAM_CURRENCY_MAP"} {
		if !known[must] {
			t.Fatalf("config field list misses %s: %v", must, sortedKeys(known))
		}
	}
	c := loadCompose(t)
	for name, s := range c.Services {
		for k := range s.Environment {
			if strings.HasPrefix(k, "WCBRIDGE_") && !known[k] {
				t.Errorf("service %s sets %s, which is no config field", name, k)
			}
		}
	}
	for _, file := range []string{".env.example", "Dockerfile", "compose.yaml"} {
		for _, k := range wcbridgeVars(t, file) {
			if !known[k] {
				t.Errorf("%s names %s, which is no config field", file, k)
			}
		}
	}
}

var varPattern = regexp.MustCompile(`\bWCBRIDGE_[A-Z0-9_]+\b`)

// wcbridgeVars returns the WCBRIDGE_* names in a file, outside comments and
// PHP constants (WCBRIDGE_SIDECAR_URL and WCBRIDGE_SHARED_SECRET are the
// plugin's wp-config.php constants, quoted in the compose file).
func wcbridgeVars(t *testing.T, file string) []string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || strings.Contains(line, "define(") {
			continue
		}
		for _, m := range varPattern.FindAllString(line, -1) {
			if strings.Contains(line, "'"+m+"'") { // getenv_docker( 'NAME' ) in PHP
				if m != "WCBRIDGE_PLUGIN_SHARED_SECRET" {
					t.Errorf("%s: PHP reads %s", file, m)
				}
				continue
			}
			out = append(out, m)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func readDockerfile(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	// Join continuation lines into instructions.
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(string(raw), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		out = append(out, cur.String())
		cur.Reset()
	}
	return out
}

var digestPinned = regexp.MustCompile(`@sha256:[0-9a-f]{64}$`)

func TestDockerfile(t *testing.T) {
	ins := readDockerfile(t)
	var froms, users, builds, health, labels []string
	args := map[string]string{}
	for _, in := range ins {
		word, rest, _ := strings.Cut(in, " ")
		switch strings.ToUpper(word) {
		case "ARG":
			k, v, _ := strings.Cut(rest, "=")
			if _, seen := args[k]; !seen {
				args[k] = v
			}
		case "LABEL":
			labels = append(labels, rest)
		case "FROM":
			froms = append(froms, rest)
		case "USER":
			users = append(users, rest)
		case "HEALTHCHECK":
			health = append(health, rest)
		case "RUN":
			if strings.Contains(rest, "go build") {
				builds = append(builds, rest)
			}
		}
	}
	// Base images: named by build arguments (the image test builds against
	// stand-ins), pinned by digest by default.
	if len(froms) != 2 || froms[0] != "--platform=${BUILDPLATFORM:-linux/amd64} ${GO_IMAGE} AS build" || froms[1] != "${RUNTIME_IMAGE}" {
		t.Errorf("FROM lines %q: want the build stage on $BUILDPLATFORM from ${GO_IMAGE} and the final stage from ${RUNTIME_IMAGE}", froms)
	}
	if g := args["GO_IMAGE"]; !strings.HasPrefix(g, "golang:1.26") || !digestPinned.MatchString(g) {
		t.Errorf("GO_IMAGE %q: want golang:1.26 pinned by digest", g)
	}
	if r := args["RUNTIME_IMAGE"]; !strings.HasPrefix(r, "gcr.io/distroless/static-debian12:nonroot@") || !digestPinned.MatchString(r) {
		t.Errorf("RUNTIME_IMAGE %q: want distroless static nonroot pinned by digest", r)
	}
	// A default on a platform variable would win over BuildKit's value in
	// older BuildKit versions: the fallbacks are in the shell instead.
	for _, a := range []string{"BUILDPLATFORM", "TARGETOS", "TARGETARCH"} {
		if args[a] != "" {
			t.Errorf("ARG %s=%s: a default can override BuildKit's own value", a, args[a])
		}
	}
	if len(users) == 0 {
		t.Fatal("no USER: the image would run as root")
	}
	if u := users[len(users)-1]; u == "root" || u == "0" || strings.HasPrefix(u, "0:") {
		t.Errorf("USER %q is root", u)
	}
	if len(builds) != 1 {
		t.Fatalf("want one go build, got %q", builds)
	}
	b := builds[0]
	// The build CI and the Makefile make: static, trimmed, the sidecar's
	// main package, never the demo (it links an embedded database).
	for _, want := range []string{"CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH:-$(go env GOARCH)} go build", "-trimpath", "./cmd/wcbridge", `-s -w`} {
		if !strings.Contains(b, want) {
			t.Errorf("go build %q lacks %q", b, want)
		}
	}
	if regexp.MustCompile(`-tags[ =]\S*demo`).MatchString(b) {
		t.Errorf("the image is built with the demo tag: %q", b)
	}
	if len(health) != 1 || !strings.HasSuffix(health[0], `CMD ["/wcbridge", "health"]`) {
		t.Errorf("HEALTHCHECK %q: want /wcbridge health, which asks server.listen", health)
	}
	label := strings.Join(labels, " ")
	for _, key := range []string{"title", "description", "url", "source", "documentation", "licenses", "vendor", "version", "revision", "created"} {
		if !strings.Contains(label, "org.opencontainers.image."+key+"=") {
			t.Errorf("no OCI label org.opencontainers.image.%s", key)
		}
	}
	if !strings.Contains(label, `org.opencontainers.image.licenses="`+repoLicense(t)+`"`) {
		t.Errorf("the licenses label is not the repository's license %s", repoLicense(t))
	}
	joined := strings.Join(ins, "\n")
	for _, want := range []string{"WCBRIDGE_SERVER_LISTEN=0.0.0.0:8080", "EXPOSE 8080", `ENTRYPOINT ["/wcbridge"]`} {
		if !strings.Contains(joined, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
}

// TestMakefileBuildMatchesImage keeps the release build and the image's
// build the same.
func TestMakefileBuildMatchesImage(t *testing.T) {
	raw, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	mk := string(raw)
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "./cmd/wcbridge", `-s -w -X main.Version=$(VERSION)`} {
		if !strings.Contains(mk, want) {
			t.Errorf("Makefile lacks %q", want)
		}
	}
}

// repoLicense is the repository's license as an SPDX expression: the
// plugin's header names it, LICENSE holds its text, README names both.
func repoLicense(t *testing.T) string {
	t.Helper()
	plugin, err := os.ReadFile("../plugin-php/wcbridge.php")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^ \* License:\s+(\S+)$`).FindSubmatch(plugin)
	if m == nil {
		t.Fatal("plugin header has no License line")
	}
	return string(m[1])
}

func TestLicense(t *testing.T) {
	if got := repoLicense(t); got != "GPL-2.0-or-later" {
		t.Errorf("plugin license %q, want GPL-2.0-or-later", got)
	}
	text, err := os.ReadFile("../LICENSE")
	if err != nil {
		t.Fatalf("no LICENSE for the repository: %v", err)
	}
	if !strings.Contains(string(text), "GNU GENERAL PUBLIC LICENSE") || !strings.Contains(string(text), "Version 2, June 1991") {
		t.Error("LICENSE is not the GNU GPL version 2 text")
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "GPL-2.0-or-later") || !strings.Contains(string(readme), "[LICENSE](LICENSE)") {
		t.Error("README does not name the license and the LICENSE file")
	}
	readmeTxt, err := os.ReadFile("../plugin-php/readme.txt")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readmeTxt), "License: GPL-2.0-or-later") && !strings.Contains(string(readmeTxt), "License: GPLv2 or later") {
		t.Error("plugin readme.txt does not name the license")
	}
}

// TestDockerignore: the context's ignore file is at the root, where the
// classic builder reads it too, and keeps the repository's history,
// the plugin and the docs out of the build.
func TestDockerignore(t *testing.T) {
	if _, err := os.Stat("Dockerfile.dockerignore"); err == nil {
		t.Error("docker/Dockerfile.dockerignore is read by BuildKit only and would shadow the root .dockerignore")
	}
	raw, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatalf("no .dockerignore at the build context's root: %v", err)
	}
	lines := map[string]bool{}
	for _, l := range strings.Split(string(raw), "\n") {
		lines[strings.TrimSpace(l)] = true
	}
	for _, want := range []string{".git", "plugin-php", "docs", "dist", "**/*_test.go"} {
		if !lines[want] {
			t.Errorf(".dockerignore does not exclude %s", want)
		}
	}
}
