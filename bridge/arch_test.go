package bridge_test

import (
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

// TestImportDirection keeps the layout of STYLE.md: the core imports only
// the standard library and decimal; an adapter imports the core (and the
// shared gateway plumbing) but never another adapter; only cmd wires them.
func TestImportDirection(t *testing.T) {
	for _, imp := range imports(t, ".") {
		if strings.Contains(imp, ".") && imp != "github.com/shopspring/decimal" {
			t.Errorf("core package bridge imports %s", imp)
		}
	}
	adapters := map[string]string{
		"api": "api", "store": "store", "woo": "../woo",
		"streampay": "gateway/streampay", "cryptocloud": "gateway/cryptocloud", "bitstream": "gateway/bitstream",
	}
	allowed := map[string]bool{module + "/bridge": true, module + "/bridge/gateway": true}
	for name, dir := range adapters {
		for _, imp := range imports(t, dir) {
			if strings.HasPrefix(imp, module) && !allowed[imp] {
				t.Errorf("adapter %s imports %s", name, imp)
			}
		}
	}
}
