#!/bin/bash
# CI: the demo's browser test. Installs Debian's chromium when it is missing,
# then drives `wcbridge demo` (embedded database, simulators, sidecar, demo
# page) in headless Chromium for each gateway. Fails loudly without Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

if ! command -v go >/dev/null; then
	[ -x /usr/local/go/bin/go ] && export PATH=$PATH:/usr/local/go/bin
fi

if [ ! -x /usr/bin/chromium ]; then
	echo "installing chromium"
	if ! { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }; then
		echo "demo: could not install Debian's chromium (apt-get install -y chromium failed)" >&2
		exit 1
	fi
fi
if [ ! -x /usr/bin/chromium ]; then
	echo "demo: /usr/bin/chromium is missing after installing chromium" >&2
	exit 1
fi
echo "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo unknown version)"

# The demo runs on its embedded database, as a user would run it; a MariaDB
# configured for the other tests is not used here.
unset WCBRIDGE_TEST_MYSQL_DSN WCBRIDGE_TEST_REQUIRE_MYSQL
export WCBRIDGE_TEST_REQUIRE_BROWSER=1
export WCBRIDGE_CHROMIUM=/usr/bin/chromium
export WCBRIDGE_DEMO_SCREENSHOTS="${WCBRIDGE_DEMO_SCREENSHOTS:-$(mktemp -d)}"

echo "== go vet -tags demo"
go vet -tags demo ./cmd/wcbridge/

echo "== demo browser test"
log=$(mktemp)
if ! go test -count=1 -timeout 5m -tags demo -run TestDemo -v ./cmd/wcbridge/ >"$log" 2>&1; then
	cat "$log" | tail -n 100
	echo "demo browser test failed" >&2
	exit 1
fi
grep -E -- '--- (PASS|FAIL|SKIP)|screenshot' "$log"
if grep -qE -- '--- SKIP' "$log"; then
	echo "demo browser test skipped in CI" >&2
	exit 1
fi

echo "== production binary carries no embedded database"
bin=$(mktemp -d)/wcbridge
CGO_ENABLED=0 go build -trimpath -o "$bin" ./cmd/wcbridge
if go version -m "$bin" | grep -q dolthub; then
	echo "the production binary links the embedded database (dolthub)" >&2
	exit 1
fi
echo "demo: passed; screenshots in $WCBRIDGE_DEMO_SCREENSHOTS"
