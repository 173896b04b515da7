#!/bin/bash
# The real-store test: a real WordPress + WooCommerce on loopback (nginx,
# php-fpm, a private MariaDB), the plugin installed from its release zip, the
# sidecar built from this repository running against the gateway simulators,
# and Store API (block checkout) orders placed for each gateway in each
# storage mode, checked for status, notes, stock, e-mails and the hooks the
# plugin fires, against WooCommerce's own code run on twin orders.
#
#   scripts/realstore/run.sh --wordpress DIR --woocommerce DIR [options]
#
#   --wordpress DIR    a WordPress (6.7 or newer) checkout: wp-load.php at its root
#   --woocommerce DIR  a WooCommerce (10.0 or newer) plugin checkout (built:
#                      woocommerce.php and vendor/ at its root)
#   --modes LIST       storage modes, default "hpos hpos+sync posts posts+sync"; a mode
#                      followed by /apcu (e.g. hpos/apcu) runs with a persistent object
#                      cache (object-cache.php on APCu; needs php-apcu)
#   --outage SECONDS   WordPress outage for the catch-up measurement (default 60; 0: skip)
#   --work DIR         where everything runs (default: a new temporary directory)
#   --keep             keep the work directory and print its path
#   --only LIST        run only these scenarios (comma-separated: paid, download,
#                      underpaid, overpaid, expired, emailswitch, forged, holdstock,
#                      moved, outage, fixtures)
#   --fixtures DIR     write the hook sequences of WooCommerce's own path
#                      (recorded in the first mode) to DIR as JSON
#
# Not part of CI (CI cannot fetch WordPress and WooCommerce); run it before
# every release. docs/REALSTORE.md explains it. Needs: nginx, php-fpm (8.1+)
# with mysqli, MariaDB server binaries, Go, curl, unzip.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
wordpress= woocommerce= modes="hpos hpos+sync posts posts+sync" outage=60 work= keep=0 fixtures= only=
while [ $# -gt 0 ]; do
	case "$1" in
	--wordpress) wordpress=$2; shift 2 ;;
	--woocommerce) woocommerce=$2; shift 2 ;;
	--modes) modes=$2; shift 2 ;;
	--outage) outage=$2; shift 2 ;;
	--work) work=$2; shift 2 ;;
	--keep) keep=1; shift ;;
	--fixtures) fixtures=$2; shift 2 ;;
	--only) only=$2; shift 2 ;;
	-h | --help) sed -n '2,27p' "$0"; exit 0 ;;
	*) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done
fail() { echo "realstore: $*" >&2; exit 1; }
[ -f "$wordpress/wp-load.php" ] || fail "--wordpress must point at a WordPress checkout (no wp-load.php in '$wordpress')"
[ -f "$woocommerce/woocommerce.php" ] || fail "--woocommerce must point at a WooCommerce plugin checkout (no woocommerce.php in '$woocommerce')"
[ -d "$woocommerce/vendor" ] || fail "$woocommerce has no vendor/: use a built WooCommerce (a release zip or WP-a2z/woocommerce)"
for tool in nginx curl unzip php go; do command -v "$tool" >/dev/null || fail "$tool is not installed"; done
fpm=$(command -v php-fpm || ls /usr/sbin/php-fpm* 2>/dev/null | head -n1 || true)
[ -n "$fpm" ] || fail "php-fpm is not installed"
mariadbd=$(command -v mariadbd || command -v mysqld || ls /usr/sbin/mariadbd /usr/sbin/mysqld 2>/dev/null | head -n1 || true)
[ -n "$mariadbd" ] || fail "the MariaDB server is not installed"
php -r 'exit( extension_loaded( "mysqli" ) ? 0 : 1 );' || fail "PHP has no mysqli"

wp_version=$(sed -n "s/^\$wp_version = '\(.*\)';/\1/p" "$wordpress/wp-includes/version.php")
wc_version=$(sed -n 's/^ \* Version: *//p' "$woocommerce/woocommerce.php" | head -n1)

[ -n "$work" ] || work=$(mktemp -d /tmp/wcbridge-realstore.XXXXXX)
mkdir -p "$work"
work=$(cd "$work" && pwd)
pids=()
cleanup() {
	local i
	if [ -n "$work" ] && [ -f "$work/php-fpm.pid" ]; then kill "$(cat "$work/php-fpm.pid")" 2>/dev/null || true; fi
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[$i]}" 2>/dev/null || true; done
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do wait "${pids[$i]}" 2>/dev/null || true; done
	if [ "$keep" = 1 ]; then echo "realstore: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

free_port() { php -r '$s=stream_socket_server("tcp://127.0.0.1:0");$n=stream_socket_get_name($s,false);echo substr($n,strrpos($n,":")+1);'; }
wait_port() {
	for _ in $(seq 1 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	fail "nothing listens on port $1 ($2)"
}
run_as=()
[ "$(id -u)" = 0 ] && run_as=(--user=root)

# --- MariaDB: a private instance on loopback.
db_port=$(free_port)
mkdir -p "$work/mysql/data"
mariadb-install-db --no-defaults --datadir="$work/mysql/data" --auth-root-authentication-method=normal "${run_as[@]}" >"$work/mysql/install.log" 2>&1 ||
	mysql_install_db --no-defaults --datadir="$work/mysql/data" "${run_as[@]}" >"$work/mysql/install.log" 2>&1 || fail "could not initialise MariaDB (see $work/mysql/install.log)"
"$mariadbd" --no-defaults --datadir="$work/mysql/data" --socket="$work/mysql/sock" --port="$db_port" --bind-address=127.0.0.1 \
	--pid-file="$work/mysql/pid" --log-error="$work/mysql/error.log" --skip-name-resolve --innodb-buffer-pool-size=128M "${run_as[@]}" &
pids+=($!)
wait_port "$db_port" MariaDB
mysql_cmd=(mysql --no-defaults -h 127.0.0.1 -P "$db_port" -u root)
for _ in $(seq 1 50); do "${mysql_cmd[@]}" -e 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.2; done

# --- WordPress files: a copy, WooCommerce, the plugin from its release zip.
wp="$work/wordpress"
cp -R "$wordpress" "$wp"
rm -f "$wp/.htaccess" "$wp/wp-config.php"
mkdir -p "$wp/wp-content/plugins" "$wp/wp-content/mu-plugins" "$wp/wp-content/uploads"
cp -R "$woocommerce" "$wp/wp-content/plugins/woocommerce"
# Some mirrors of WooCommerce lose a file name's case (10.0.2 on WP-a2z ships
# src/Caching/WpCacheEngine.php for the class map's WPCacheEngine.php): link
# every class-map file that exists only under another case.
php -r '
	$baseDir = $argv[1]; $vendorDir = $baseDir . "/vendor";
	foreach ( (array) require $vendorDir . "/composer/autoload_classmap.php" as $file ) {
		if ( file_exists( $file ) || ! is_dir( dirname( $file ) ) ) { continue; }
		foreach ( scandir( dirname( $file ) ) as $f ) {
			if ( 0 === strcasecmp( $f, basename( $file ) ) ) {
				symlink( $f, $file );
				fwrite( STDERR, "realstore: linked " . substr( $file, strlen( $baseDir ) + 1 ) . " to $f (case differs in this checkout)\n" );
			}
		}
	}' "$wp/wp-content/plugins/woocommerce"
zip=$("$repo/plugin-php/build-zip.sh")
unzip -q -o "$zip" -d "$wp/wp-content/plugins/"
cp "$here/mu-plugin.php" "$wp/wp-content/mu-plugins/wcbridge-realstore.php"
echo "%PDF-1.4 test" >"$wp/wp-content/uploads/book.pdf"
[ "$(id -u)" = 0 ] && chmod -R a+rwX "$work"

# --- php-fpm and nginx.
fpm_port=$(free_port)
web_port=$(free_port)
url="http://127.0.0.1:$web_port"
cat >"$work/php-fpm.conf" <<EOF
[global]
error_log = $work/php-fpm.log
pid = $work/php-fpm.pid
daemonize = no
[www]
listen = 127.0.0.1:$fpm_port
pm = static
pm.max_children = 4
catch_workers_output = yes
php_admin_value[error_log] = $work/php-errors.log
php_admin_flag[log_errors] = on
php_admin_value[opcache.validate_timestamps] = 1
php_admin_value[opcache.revalidate_freq] = 0
php_admin_value[memory_limit] = 256M
EOF
[ "$(id -u)" = 0 ] && printf 'user = root\ngroup = root\n' >>"$work/php-fpm.conf"
fpm_cmd="$fpm -y $work/php-fpm.conf -F"
[ "$(id -u)" = 0 ] && fpm_cmd="$fpm_cmd -R"
# php-fpm is started (and, for the outage, stopped and restarted) through its
# pid file, so that the driver can take WordPress down.
start_fpm() {
	setsid $fpm_cmd >>"$work/php-fpm.out" 2>&1 < /dev/null &
	wait_port "$fpm_port" php-fpm
}
stop_fpm() {
	[ -f "$work/php-fpm.pid" ] && kill "$(cat "$work/php-fpm.pid")" 2>/dev/null || true
}
cat >"$work/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
$([ "$(id -u)" = 0 ] && echo "user root;")
events { worker_connections 256; }
http {
	log_format timed '\$remote_addr [\$time_local] "\$request" \$status \$body_bytes_sent \$request_time';
	access_log $work/nginx-access.log timed;
	client_body_temp_path $work/nginx-tmp;
	fastcgi_temp_path $work/nginx-tmp;
	proxy_temp_path $work/nginx-tmp;
	uwsgi_temp_path $work/nginx-tmp;
	scgi_temp_path $work/nginx-tmp;
	default_type application/octet-stream;
	server {
		listen 127.0.0.1:$web_port;
		root $wp;
		index index.php;
		location / { try_files \$uri \$uri/ /index.php?\$args; }
		location ~ \.php\$ {
			include /etc/nginx/fastcgi_params;
			fastcgi_param SCRIPT_FILENAME \$document_root\$fastcgi_script_name;
			fastcgi_pass 127.0.0.1:$fpm_port;
			fastcgi_read_timeout 60s;
		}
	}
}
EOF
mkdir -p "$work/nginx-tmp"
nginx -c "$work/nginx.conf" -p "$work" >"$work/nginx.out" 2>&1 &
pids+=($!)
wait_port "$web_port" nginx
start_fpm

# --- The sidecar and the simulators.
(cd "$repo" && go build -o "$work/wcbridge" ./cmd/wcbridge) || fail "building the sidecar failed"
sidecar_port=$(free_port)
sidecar="http://127.0.0.1:$sidecar_port"
sp_port=$(free_port) cc_port=$(free_port) bs_port=$(free_port)
"$work/wcbridge" simulate --sidecar "$sidecar" --streampay "127.0.0.1:$sp_port" --cryptocloud "127.0.0.1:$cc_port" \
	--bitstream "127.0.0.1:$bs_port" --retry 2s >"$work/simulate.out" 2>&1 &
pids+=($!)
wait_port "$bs_port" simulators
secret=$(php -r 'echo bin2hex(random_bytes(24));')
sim_env=$(sed -n 's/^  export //p' "$work/simulate.out")

echo "realstore: WordPress $wp_version, WooCommerce $wc_version, PHP $(php -r 'echo PHP_VERSION;'), $(nginx -v 2>&1), $("$mariadbd" --version | sed 's/.*Ver //; s/ for.*//')"
echo "realstore: work directory $work"
status=0
first=1
for token in $modes; do
	mode=${token%/apcu}
	db="wcbridge_rs_$(echo "$token" | tr -c 'a-z0-9\n' '_')"
	rm -f "$wp/wp-content/object-cache.php"
	if [ "$token" != "$mode" ]; then
		php -r 'exit( function_exists( "apcu_enabled" ) ? 0 : 1 );' || fail "$token needs php-apcu"
		cp "$here/object-cache.php" "$wp/wp-content/object-cache.php"
	fi
	"${mysql_cmd[@]}" -e "DROP DATABASE IF EXISTS $db; CREATE DATABASE $db CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
	rundir="$work/run-$db"
	mkdir -p "$rundir"
	[ "$(id -u)" = 0 ] && chmod a+rwx "$rundir"
	cat >"$wp/wp-config.php" <<PHP
<?php
define( 'DB_NAME', '$db' );
define( 'DB_USER', 'root' );
define( 'DB_PASSWORD', '' );
define( 'DB_HOST', '127.0.0.1:$db_port' );
define( 'DB_CHARSET', 'utf8mb4' );
define( 'DB_COLLATE', '' );
define( 'WP_HOME', '$url' );
define( 'WP_SITEURL', '$url' );
define( 'WP_DEBUG', true );
define( 'WP_DEBUG_LOG', '$rundir/debug.log' );
define( 'WP_DEBUG_DISPLAY', false );
define( 'DISABLE_WP_CRON', true );
define( 'AUTOMATIC_UPDATER_DISABLED', true );
define( 'WCBRIDGE_SIDECAR_URL', '$sidecar' );
define( 'WCBRIDGE_SHARED_SECRET', '$secret' );
define( 'WCBRIDGE_RS_DIR', '$rundir' );
define( 'WP_CACHE_KEY_SALT', '$db' );
foreach ( array( 'AUTH_KEY', 'SECURE_AUTH_KEY', 'LOGGED_IN_KEY', 'NONCE_KEY', 'AUTH_SALT', 'SECURE_AUTH_SALT', 'LOGGED_IN_SALT', 'NONCE_SALT' ) as \$k ) {
	define( \$k, 'realstore-' . \$k );
}
\$table_prefix = 'wp_';
if ( ! defined( 'ABSPATH' ) ) {
	define( 'ABSPATH', __DIR__ . '/' );
}
require_once ABSPATH . 'wp-settings.php';
PHP
	export RS_URL="$url"
	php "$here/wp.php" "$wp" install "$mode" >"$rundir/install.json" 2>"$rundir/install.err" || { cat "$rundir/install.err"; fail "installing WordPress ($mode) failed"; }
	php "$here/wp.php" "$wp" setup >"$rundir/setup.json" 2>"$rundir/setup.err" || { cat "$rundir/setup.err"; fail "setting up the shop ($mode) failed"; }

	# A sidecar for this store.
	# shellcheck disable=SC2086
	env $sim_env \
		WCBRIDGE_DATABASE_DSN="root@tcp(127.0.0.1:$db_port)/$db" \
		WCBRIDGE_DATABASE_TABLE_PREFIX=wp_ \
		WCBRIDGE_PLUGIN_SHARED_SECRET="$secret" \
		WCBRIDGE_WORDPRESS_URL="$url" \
		WCBRIDGE_SERVER_LISTEN="127.0.0.1:$sidecar_port" \
		WCBRIDGE_SERVER_PUBLIC_URL="$sidecar" \
		WCBRIDGE_RECONCILE_INTERVAL=5s \
		WCBRIDGE_LOG_FORMAT=text \
		"$work/wcbridge" serve >"$rundir/sidecar.log" 2>&1 &
	sidecar_pid=$!
	pids+=("$sidecar_pid")
	wait_port "$sidecar_port" sidecar

	fx=
	[ "$first" = 1 ] && [ -n "$fixtures" ] && fx=$fixtures
	if ! RS_MODE="$mode" RS_LABEL="$token" RS_CACHE="$([ "$token" != "$mode" ] && echo apcu)" RS_URL="$url" RS_WP="$wp" RS_DIR="$rundir" RS_HERE="$here" RS_SIDECAR="$sidecar" \
		RS_SIM_STREAMPAY="http://127.0.0.1:$sp_port" RS_SIM_CRYPTOCLOUD="http://127.0.0.1:$cc_port" RS_SIM_BITSTREAM="http://127.0.0.1:$bs_port" \
		RS_OUTAGE="$([ "$first" = 1 ] && echo "$outage" || echo 0)" RS_FIXTURES="$fx" RS_ONLY="$only" RS_NGINX_LOG="$work/nginx-access.log" RS_INTERVAL=5 \
		RS_FPM_CMD="$fpm_cmd" RS_FPM_PIDFILE="$work/php-fpm.pid" RS_FPM_PORT="$fpm_port" RS_FPM_LOG="$work/php-fpm.out" \
		php "$here/driver.php"; then
		status=1
	fi
	kill "$sidecar_pid" 2>/dev/null || true
	wait "$sidecar_pid" 2>/dev/null || true
	first=0
done
if [ "$status" = 0 ]; then
	echo "realstore: PASS (WordPress $wp_version, WooCommerce $wc_version, modes: $modes)"
else
	echo "realstore: FAIL (see the lines marked FAIL above; logs in the work directory, --keep keeps it)"
fi
exit "$status"
