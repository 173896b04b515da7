package main

import (
	"fmt"
	"math"
	"os"
	"reflect"
	"strings"
)

// FileSuffix ends the environment variable that names a file holding a
// secret field's value, the convention of Docker and Kubernetes secrets:
// WCBRIDGE_PLUGIN_SHARED_SECRET_FILE=/run/secrets/wcbridge_shared_secret.
const FileSuffix = "_FILE"

// IsSecret reports whether the field at path holds a secret: its value never
// appears in logs, error messages or the settings page, is encrypted when it
// is stored in the database, and can be read from a file (WCBRIDGE_..._FILE).
//
// The rule goes by the field's last name, so a gateway's new secret field is
// covered without a list to keep: "dsn", "password", and every name ending in
// "secret" or "_key" (shared_secret, secret_key, api_key, webhook_secret,
// secrets.key, secrets.previous_key). A field can also say so itself with the
// struct tag `secret:"true"`.
func IsSecret(path string) bool {
	name := path[strings.LastIndex(path, ".")+1:]
	switch {
	case name == "dsn", name == "key", strings.HasSuffix(name, "password"),
		strings.HasSuffix(name, "secret"), strings.HasSuffix(name, "_key"):
		return true
	}
	return taggedSecret[path]
}

// taggedSecret holds the paths whose struct field carries `secret:"true"`.
var taggedSecret = func() map[string]bool {
	out := map[string]bool{}
	cfg := DefaultConfig()
	for _, f := range cfg.fields() {
		if f.Tag.Get("secret") == "true" {
			out[f.Path] = true
		}
	}
	return out
}()

// applyEnvFiles reads WCBRIDGE_..._FILE variables: the named file's content,
// less a trailing line break, is the secret's value. Setting both the variable
// and its _FILE variant is an error, as is a file that cannot be read or is
// empty. The value never appears in an error.
func applyEnvFiles(cfg *Config, vars map[string]string) []error {
	var errs []error
	for _, f := range cfg.fields() {
		if !IsSecret(f.Path) {
			continue
		}
		name := EnvName(f.Path)
		path, ok := vars[name+FileSuffix]
		if !ok {
			continue
		}
		if _, both := vars[name]; both {
			errs = append(errs, fmt.Errorf("%s: set %s or %s, not both", f.Path, name, name+FileSuffix))
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s (from %s): cannot read the file: %v", f.Path, name+FileSuffix, pathError(err)))
			continue
		}
		v := strings.TrimRight(string(b), "\r\n")
		if strings.TrimSpace(v) == "" {
			errs = append(errs, fmt.Errorf("%s (from %s): the file %s is empty", f.Path, name+FileSuffix, path))
			continue
		}
		if f.Value.Kind() != reflect.String {
			errs = append(errs, fmt.Errorf("%s: cannot be read from a file", f.Path))
			continue
		}
		f.Value.SetString(v)
		cfg.pinned[f.Path] = true
	}
	return errs
}

// pathError keeps an os error's operation and path but never file content.
func pathError(err error) string {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Path + ": " + pe.Err.Error()
	}
	return err.Error()
}

// MakeSecretHint says how to make a good secret.
const MakeSecretHint = "make one with `openssl rand -hex 32`"

// placeholderSecrets are values published in this repository's examples and
// documentation, and words that only a placeholder contains: a secret that
// anyone can read in the README is no secret.
var placeholderSecrets = []string{
	"change-me", "changeme", "change_me", "replace-me", "replaceme", "replace_me",
	"your-secret", "your_secret", "yoursecret", "placeholder", "example",
	"wcbridge-test-secret", "not-a-secret", "xxxxxxxx",
}

// weakSecret says why s is not a usable shared secret or encryption key, or
// returns "" when it is: at least 32 characters, none of the known
// placeholders, and enough entropy that it cannot be guessed (an estimate from
// the character frequencies, at least 100 bits from at least 8 different
// characters, and not mostly a run, a sequence or a repeated pattern such as
// "aaaa...", "0123..." or "0a1b0a1b...").
func weakSecret(s string) string {
	if n := len(s); n < 32 {
		return fmt.Sprintf("must be at least 32 characters (got %d); %s", n, MakeSecretHint)
	}
	lower := strings.ToLower(s)
	for _, p := range placeholderSecrets {
		if strings.Contains(lower, p) {
			return "is a placeholder from an example, not a secret; " + MakeSecretHint
		}
	}
	if entropyBits(s) < 100 || distinct(s) < 8 || sequential(s) || periodic(s) {
		return "is too easy to guess (too few different characters, a run, a sequence or a repeated pattern); " + MakeSecretHint
	}
	return ""
}

// entropyBits estimates the information in s from its character frequencies
// (Shannon), in bits. A random hex string of 32 characters scores about 120,
// of 64 about 250; "aaaa..." scores 0.
func entropyBits(s string) float64 {
	counts := map[rune]int{}
	n := 0
	for _, r := range s {
		counts[r]++
		n++
	}
	var h float64
	for _, c := range counts {
		p := float64(c) / float64(n)
		h -= p * math.Log2(p)
	}
	return h * float64(n)
}

func distinct(s string) int {
	seen := map[rune]bool{}
	for _, r := range s {
		seen[r] = true
	}
	return len(seen)
}

// periodic reports whether s is one short pattern repeated ("0a1b0a1b...").
func periodic(s string) bool {
	for p := 1; p <= len(s)/2; p++ {
		if strings.Repeat(s[:p], len(s)/p+1)[:len(s)] == s {
			return true
		}
	}
	return false
}

// sequential reports whether more than half of s's characters repeat or
// continue their predecessor by one ("aaaa", "abcd", "0123", "9876").
func sequential(s string) bool {
	b := []byte(s)
	steps := 0
	for i := 1; i < len(b); i++ {
		d := int(b[i]) - int(b[i-1])
		if d >= -1 && d <= 1 {
			steps++
		}
	}
	return steps*2 > len(b)
}
