package bridge_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/wcbridge/wcbridge"

// imports lists the non-test imports of the package in dir.
func imports(t *testing.T, dir string) []string {
	t.Helper()
	fset := token.NewFileSet()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			out = append(out, strings.Trim(imp.Path.Value, `"`))
		}
	}
	return out
}

// fileImports lists the imports of each non-test file of the package in dir.
func fileImports(t *testing.T, dir string) map[string][]string {
	t.Helper()
	fset := token.NewFileSet()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			out[e.Name()] = append(out[e.Name()], strings.Trim(imp.Path.Value, `"`))
		}
	}
	return out
}

// TestImportDirection keeps the layout of the README: the core imports only
// the standard library and decimal; an adapter imports the core (and the
// shared gateway plumbing) but never another adapter; only cmd wires them.
func TestImportDirection(t *testing.T) {
	for _, imp := range imports(t, ".") {
		if strings.Contains(imp, ".") && imp != "github.com/shopspring/decimal" {
			t.Errorf("core package bridge imports %s", imp)
		}
	}
	adapters := map[string]string{
		"api": "api", "wordpress": "wordpress", "store": "store", "woo": "../woo", "pluginsig": "pluginsig", "mysqlkit": "mysqlkit",
		"streampay": "gateway/streampay", "cryptocloud": "gateway/cryptocloud", "bitstream": "gateway/bitstream",
	}
	// Shared plumbing an adapter may use besides the core: the gateways'
	// HTTP client, the plugin protocol's signature and the MySQL kit.
	allowed := map[string]bool{module + "/bridge": true, module + "/bridge/gateway": true,
		module + "/bridge/pluginsig": true, module + "/bridge/mysqlkit": true}
	for name, dir := range adapters {
		for _, imp := range imports(t, dir) {
			if strings.HasPrefix(imp, module) && !allowed[imp] {
				t.Errorf("adapter %s imports %s", name, imp)
			}
		}
	}
}

// TestSimulatorsApart: a simulator imports the shared kit and nothing else
// of the repository (not its client, not the core), so client and simulator
// never agree by sharing code; the kit imports nothing of the repository.
func TestSimulatorsApart(t *testing.T) {
	for _, imp := range imports(t, "gateway/simkit") {
		if strings.HasPrefix(imp, module) {
			t.Errorf("simkit imports %s", imp)
		}
	}
	for _, dir := range []string{"gateway/streampay/streampaysim", "gateway/cryptocloud/cryptocloudsim", "gateway/bitstream/bitstreamsim"} {
		for _, imp := range imports(t, dir) {
			if strings.HasPrefix(imp, module) && imp != module+"/bridge/gateway/simkit" {
				t.Errorf("%s imports %s", dir, imp)
			}
		}
	}
}

// TestServeWithoutSimulators: of the command's files only `wcbridge
// simulate` (simulate.go) and the demo (demo*.go, build tag demo) use the
// simulators; serve's code paths never do, nor does any other package.
func TestServeWithoutSimulators(t *testing.T) {
	isSim := func(imp string) bool {
		return strings.HasPrefix(imp, module) && (strings.HasSuffix(imp, "sim") || strings.HasSuffix(imp, "/simkit") || strings.HasSuffix(imp, "/gatewaytest"))
	}
	for file, imps := range fileImports(t, "../cmd/wcbridge") {
		if file == "simulate.go" || strings.HasPrefix(file, "demo") {
			continue
		}
		for _, imp := range imps {
			if isSim(imp) {
				t.Errorf("cmd/wcbridge/%s imports %s", file, imp)
			}
		}
	}
	for _, dir := range []string{".", "api", "wordpress", "pluginsig", "mysqlkit", "store", "../woo", "gateway", "gateway/streampay", "gateway/cryptocloud", "gateway/bitstream"} {
		for _, imp := range imports(t, dir) {
			if isSim(imp) {
				t.Errorf("%s imports %s", dir, imp)
			}
		}
	}
}

// TestCoreNamesNoGateway: the core knows gateways only through the Gateway
// interface; their names and titles come from the gateway packages.
func TestCoreNamesNoGateway(t *testing.T) {
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		b, err := os.ReadFile(e.Name())
		if err != nil {
			t.Fatal(err)
		}
		for _, brand := range []string{"streampay", "cryptocloud", "bitstream", "copperx"} {
			if strings.Contains(strings.ToLower(string(b)), brand) {
				t.Errorf("%s names the gateway %s", e.Name(), brand)
			}
		}
	}
}

// TestAPIUsesItsOwnInterface: the HTTP server depends on the small Service
// interface it declares, never on the core's concrete *bridge.Service.
func TestAPIUsesItsOwnInterface(t *testing.T) {
	fset := token.NewFileSet()
	entries, err := os.ReadDir("api")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join("api", e.Name()), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok {
				if x, ok := sel.X.(*ast.Ident); ok && x.Name == "bridge" && (sel.Sel.Name == "Service" || sel.Sel.Name == "NewService") {
					t.Errorf("api/%s uses bridge.%s at %s", e.Name(), sel.Sel.Name, fset.Position(sel.Pos()))
				}
			}
			return true
		})
	}
}
