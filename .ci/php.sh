#!/bin/bash
# CI for the WordPress plugin: php -l on every file, the PHPUnit suite (with
# stubbed WordPress, a fake sidecar and the local MariaDB for the two-process
# test) and a smoke test in a real WordPress. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v php >/dev/null || need+=(php-cli)
command -v phpunit >/dev/null || need+=(phpunit)
command -v zip >/dev/null || need+=(zip)
command -v unzip >/dev/null || need+=(unzip)
command -v curl >/dev/null || need+=(curl)
command -v mysql >/dev/null || need+=(mariadb-client)
[ -f /usr/share/wordpress/wp-includes/version.php ] || need+=(wordpress)
if command -v php >/dev/null; then
	php -m | grep -qi '^mysqli$' || need+=(php-mysql)
	php -m | grep -qi '^dom$' || need+=(php-xml)
	php -m | grep -qi '^mbstring$' || need+=(php-mbstring)
fi
if [ ${#need[@]} -gt 0 ]; then
	echo "installing: ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq php-cli php-mysql php-xml php-mbstring phpunit zip "${need[@]}" >/dev/null
fi

echo "== php -l"
lint_fail=0
count=0
while IFS= read -r -d '' f; do
	count=$((count + 1))
	php -l "$f" >/dev/null || { echo "lint failed: $f"; lint_fail=1; }
done < <(find plugin-php -name '*.php' -print0)
[ "$lint_fail" = 0 ] || exit 1
echo "php -l: $count files OK"

echo "== translation template is current"
tmp=$(mktemp -d)
cp plugin-php/languages/wcbridge.pot "$tmp/before.pot"
php plugin-php/tools/make-pot.php >/dev/null
if ! diff -q "$tmp/before.pot" plugin-php/languages/wcbridge.pot >/dev/null; then
	cp "$tmp/before.pot" plugin-php/languages/wcbridge.pot
	rm -rf "$tmp"
	echo "plugin-php/languages/wcbridge.pot is stale: run php plugin-php/tools/make-pot.php" >&2
	exit 1
fi
rm -rf "$tmp"

echo "== phpunit"
(cd plugin-php && timeout 300 phpunit --colors=never)

echo "== block checkout script"
if command -v node >/dev/null; then
	node plugin-php/tests/js/blocks-check.js
else
	echo "node not installed: block checkout script check NOT run (php checks above still ran)"
fi

echo "== smoke test in WordPress"
timeout 300 plugin-php/tests/smoke/run.sh
