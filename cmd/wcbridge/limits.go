package main

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bounds on what WordPress may send for a setting, checked before the value
// is parsed; the config's own validation (ranges, enumerations, URLs) comes
// after. Whoever holds the plugin's shared secret reaches these, so nothing
// they send may be unbounded: text is short and printable, lists and maps are
// small, and fields with a known shape are held to it.
const (
	maxSettingText   = 256  // characters of any text setting
	maxSecretText    = 1024 // characters of a secret (API keys, secret keys)
	maxSettingItems  = 32   // entries of a list or map setting
	maxSettingKeyLen = 32   // characters of a map key or list item
)

// settingShapes holds fields whose text has a known shape.
var settingShapes = map[string]struct {
	re   *regexp.Regexp
	want string
}{
	"gateways.streampay.client_id":    {regexp.MustCompile(`^[A-Za-z0-9_.\-]{1,128}$`), "1 to 128 letters, digits, '.', '_' or '-'"},
	"gateways.streampay.native_token": {regexp.MustCompile(`^[A-Za-z0-9]{1,16}$`), "1 to 16 letters or digits"},
	"gateways.cryptocloud.shop_id":    {regexp.MustCompile(`^[A-Za-z0-9]{1,64}$`), "1 to 64 letters or digits"},
	"gateways.bitstream.currency":     {regexp.MustCompile(`^[A-Za-z0-9]{1,16}$`), "1 to 16 letters or digits"},
}

// checkSettingBounds returns what is wrong with raw as a value of the
// setting at path sent from WordPress, or "".
func checkSettingBounds(path, raw string) string {
	if !utf8.ValidString(raw) {
		return "must be valid UTF-8"
	}
	limit := maxSettingText
	if IsSecret(path) {
		limit = maxSecretText
	}
	if n := utf8.RuneCountInString(raw); n > limit {
		return fmt.Sprintf("must be at most %d characters (got %d)", limit, n)
	}
	if strings.IndexFunc(raw, func(r rune) bool { return unicode.IsControl(r) }) >= 0 {
		return "must not contain control characters (line breaks, tabs, NUL)"
	}
	if IsSecret(path) && strings.IndexFunc(raw, func(r rune) bool { return r < 0x21 || r > 0x7e }) >= 0 {
		return "must be printable ASCII without spaces, as API keys and secrets are"
	}
	if sh, ok := settingShapes[path]; ok && !sh.re.MatchString(raw) {
		return "must be " + sh.want
	}
	if isListOrMap(path) {
		parts := splitList(raw)
		if len(parts) > maxSettingItems {
			return fmt.Sprintf("must have at most %d entries (got %d)", maxSettingItems, len(parts))
		}
		for _, p := range parts {
			k, v, _ := strings.Cut(p, "=")
			if len(strings.TrimSpace(k)) > maxSettingKeyLen || len(strings.TrimSpace(v)) > maxSettingKeyLen {
				return fmt.Sprintf("entries must be at most %d characters", maxSettingKeyLen)
			}
		}
	}
	return ""
}

// listOrMapPaths are the settings whose value is a list or a map.
var listOrMapPaths = func() map[string]bool {
	out := map[string]bool{}
	cfg := DefaultConfig()
	for _, f := range cfg.fields() {
		switch f.Value.Kind().String() {
		case "slice", "map":
			out[f.Path] = true
		}
	}
	return out
}()

func isListOrMap(path string) bool { return listOrMapPaths[path] }
