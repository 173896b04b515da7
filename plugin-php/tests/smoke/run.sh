#!/bin/bash
# Smoke test in a real WordPress (Debian's wordpress package): install it into
# a fresh database, activate the plugin WITHOUT WooCommerce, log in, load admin
# pages and check for the "WooCommerce is required" notice and no fatal error.
# Needs MariaDB/MySQL on 127.0.0.1:3306 (root, no password).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
plugin=$(cd "$here/../.." && pwd)
# A database of its own, so two runs on one server never share one, dropped
# on the way out whatever happens.
db="wcbridge_wp_smoke_$(date +%s)_$$_${RANDOM}"
mysql_cmd=(mysql -h 127.0.0.1 -P 3306 -u root)

fail() { echo "SMOKE FAIL: $*" >&2; exit 1; }

[ -f /usr/share/wordpress/wp-includes/version.php ] || fail "Debian's wordpress package is not installed"
work=$(mktemp -d)
server_pid=
db_created=
cleanup() {
	if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
	if [ -n "$db_created" ]; then "${mysql_cmd[@]}" -e "DROP DATABASE IF EXISTS \`$db\`" || echo "smoke: could not drop database $db" >&2; fi
	rm -rf "$work"
}
trap cleanup EXIT

"${mysql_cmd[@]}" -e "CREATE DATABASE \`$db\` CHARACTER SET utf8mb4" || fail "cannot create database $db on 127.0.0.1:3306"
db_created=1

wp="$work/wordpress"
cp -rL /usr/share/wordpress "$wp"
rm -f "$wp/.htaccess"
port=$(( 20000 + RANDOM % 20000 ))
url="http://127.0.0.1:$port"

cat > "$wp/wp-config.php" <<PHP
<?php
define( 'DB_NAME', '$db' );
define( 'DB_USER', 'root' );
define( 'DB_PASSWORD', '' );
define( 'DB_HOST', '127.0.0.1:3306' );
define( 'DB_CHARSET', 'utf8mb4' );
define( 'DB_COLLATE', '' );
define( 'WP_HOME', '$url' );
define( 'WP_SITEURL', '$url' );
define( 'WP_CONTENT_DIR', __DIR__ . '/wp-content' );
define( 'WP_DEBUG', true );
define( 'WP_DEBUG_LOG', '$work/debug.log' );
define( 'WP_DEBUG_DISPLAY', true );
define( 'DISABLE_WP_CRON', true );
define( 'AUTOMATIC_UPDATER_DISABLED', true );
define( 'WP_HTTP_BLOCK_EXTERNAL', true );
foreach ( array( 'AUTH_KEY', 'SECURE_AUTH_KEY', 'LOGGED_IN_KEY', 'NONCE_KEY', 'AUTH_SALT', 'SECURE_AUTH_SALT', 'LOGGED_IN_SALT', 'NONCE_SALT' ) as \$k ) {
	define( \$k, 'smoke-' . \$k );
}
\$table_prefix = 'wp_';
if ( ! defined( 'ABSPATH' ) ) {
	define( 'ABSPATH', __DIR__ . '/' );
}
require_once ABSPATH . 'wp-settings.php';
PHP

# Install the plugin from the release zip, as a shop owner would.
zip=$("$plugin/build-zip.sh")
unzip -q "$zip" -d "$wp/wp-content/plugins/"
[ -f "$wp/wp-content/plugins/wcbridge/wcbridge.php" ] || fail "the zip has no wcbridge/wcbridge.php"
[ ! -d "$wp/wp-content/plugins/woocommerce" ] || fail "WooCommerce must be absent for this test"

php "$here/install.php" "$wp" || fail "install/activation failed"

php -S "127.0.0.1:$port" -t "$wp" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 50); do
	curl -s -o /dev/null "$url/wp-login.php" && break
	sleep 0.1
done

jar="$work/cookies"
curl -s -o /dev/null -c "$jar" -b "wordpress_test_cookie=WP%20Cookie%20check" \
	--data-urlencode "log=admin" --data-urlencode "pwd=smoke-password-1" \
	--data-urlencode "testcookie=1" --data-urlencode "redirect_to=$url/wp-admin/" \
	"$url/wp-login.php" || fail "login request failed"

check_page() {
	local path=$1 out="$work/page.html" code
	code=$(curl -s -o "$out" -w '%{http_code}' -b "$jar" "$url$path")
	[ "$code" = 200 ] || fail "$path answered HTTP $code"
	grep -q 'id="wpadminbar"' "$out" || fail "$path: not logged in to the admin"
	grep -q 'WooCommerce is required' "$out" || fail "$path: no \"WooCommerce is required\" notice"
	if grep -qiE 'Fatal error|critical error|Parse error' "$out"; then fail "$path: fatal error in the page"; fi
	if grep -qiE 'Warning:|Notice:|Deprecated:' "$out"; then
		grep -iE 'Warning:|Notice:|Deprecated:' "$out" | head -5 >&2
		fail "$path: PHP warnings in the page"
	fi
	echo "smoke: $path OK (notice shown, no fatal error)"
}
check_page /wp-admin/index.php
check_page /wp-admin/plugins.php

# The front end must still render, and the notify route must not exist without WooCommerce.
code=$(curl -s -o "$work/front.html" -w '%{http_code}' "$url/")
[ "$code" = 200 ] || fail "front page answered HTTP $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url/?rest_route=/wcbridge/v1/notify")
[ "$code" = 404 ] || fail "notify route answered $code without WooCommerce (want 404: not registered)"

if [ -f "$work/debug.log" ] && grep -E 'PHP (Fatal|Warning|Notice|Deprecated|Parse)' "$work/debug.log" | grep -q wcbridge; then
	grep -E 'PHP (Fatal|Warning|Notice|Deprecated|Parse)' "$work/debug.log" | grep wcbridge | head -5 >&2
	fail "PHP errors from the plugin in debug.log"
fi
if grep -q 'PHP Fatal' "$work/server.log"; then
	grep 'PHP Fatal' "$work/server.log" | head -5 >&2
	fail "fatal error in the server log"
fi
echo "smoke: database $db is dropped on exit"
echo "smoke: OK (WordPress $(sed -n "s/^\$wp_version = '\(.*\)';/\1/p" "$wp/wp-includes/version.php"), plugin active without WooCommerce)"
