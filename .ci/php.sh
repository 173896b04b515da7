#!/bin/bash
# CI for the WordPress plugin: php -l on every file, the PHPUnit suite (with
# stubbed WordPress, a fake sidecar and the local MariaDB for the two-process
# test) and a smoke test in a real WordPress. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v php >/dev/null || need+=(php-cli)
command -v phpunit >/dev/null || need+=(phpunit)
command -v phpcs >/dev/null || need+=(php-codesniffer)
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

echo "== declare(strict_types=1) in every plugin file"
missing=0
while IFS= read -r -d '' f; do
	# The first statement after the opening tag and the file's doc comment.
	first=$(php -r '
		foreach ( token_get_all( file_get_contents( $argv[1] ) ) as $t ) {
			if ( is_array( $t ) && in_array( $t[0], array( T_OPEN_TAG, T_COMMENT, T_DOC_COMMENT, T_WHITESPACE ), true ) ) { continue; }
			echo is_array( $t ) ? $t[1] : $t; break;
		}' "$f")
	if [ "$first" != declare ] || ! grep -qE '^declare\( ?strict_types ?= ?1 ?\);' "$f"; then
		echo "no declare(strict_types=1) as the first statement: $f"
		missing=1
	fi
done < <(find plugin-php -name '*.php' -print0)
[ "$missing" = 0 ] || exit 1
echo "strict_types: every file declares it"

echo "== phpcs (plugin-php/phpcs.xml.dist)"
# The ruleset must be able to fail: a file without strict types is refused.
probe=$(mktemp -d)
printf '<?php\n/**\n * Probe.\n *\n * @package WCBridge\n */\n\n$a = 1;\n' >"$probe/probe.php"
if phpcs -q --standard=plugin-php/phpcs.xml.dist --no-colors "$probe/probe.php" >/dev/null; then
	rm -rf "$probe"
	echo "phpcs accepted a file without declare(strict_types=1): the ruleset is not in force" >&2
	exit 1
fi
rm -rf "$probe"
(cd plugin-php && phpcs -q --no-colors --report=emacs)
echo "phpcs: clean"

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
smoke_log=$(mktemp)
timeout 300 plugin-php/tests/smoke/run.sh | tee "$smoke_log"
smoke_db=$(sed -n 's/^smoke: database \([a-z0-9_]*\) is dropped on exit$/\1/p' "$smoke_log")
[ -n "$smoke_db" ] || { echo "smoke test did not name its database" >&2; exit 1; }
if [ -n "$(mysql -h 127.0.0.1 -u root -N -e "SHOW DATABASES LIKE '$smoke_db'")" ]; then
	echo "smoke test left its database $smoke_db behind" >&2
	exit 1
fi
rm -f "$smoke_log"
