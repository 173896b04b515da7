<?php
/**
 * The real-store scenarios for one storage mode (started by run.sh, which
 * set up WordPress, WooCommerce, the plugin, the sidecar and the simulators).
 * It talks to the shop over HTTP as a customer's browser does (Store API),
 * to the simulators as the customer paying, and inspects WordPress with
 * wp.php, each look in a fresh PHP process.
 *
 * @package WCBridge
 */

declare(strict_types=1);

// phpcs:disable Squiz.PHP.CommentedOutCode

$rs = array(
	'mode'     => (string) getenv( 'RS_MODE' ),
	'label'    => (string) getenv( 'RS_LABEL' ),
	'cache'    => (string) getenv( 'RS_CACHE' ),
	'url'      => (string) getenv( 'RS_URL' ),
	'wp'       => (string) getenv( 'RS_WP' ),
	'dir'      => (string) getenv( 'RS_DIR' ),
	'here'     => (string) getenv( 'RS_HERE' ),
	'sims'     => array(
		'streampay'   => (string) getenv( 'RS_SIM_STREAMPAY' ),
		'cryptocloud' => (string) getenv( 'RS_SIM_CRYPTOCLOUD' ),
		'bitstream'   => (string) getenv( 'RS_SIM_BITSTREAM' ),
	),
	'outage'   => (int) getenv( 'RS_OUTAGE' ),
	'fixtures' => (string) getenv( 'RS_FIXTURES' ),
	'failed'   => 0,
	'passed'   => 0,
);
$GLOBALS['rs'] = &$rs;

/**
 * Say prints a line of the report.
 *
 * @param string $line Text.
 */
function rs_say( string $line ): void {
	echo '[' . ( '' !== $GLOBALS['rs']['label'] ? $GLOBALS['rs']['label'] : $GLOBALS['rs']['mode'] ) . '] ' . $line . "\n";
	flush();
}

/**
 * Check records one expectation.
 *
 * @param bool   $ok   Whether it held.
 * @param string $what What was expected.
 * @param mixed  $got  What was seen, shown when it failed.
 */
function rs_check( bool $ok, string $what, $got = null ): bool {
	if ( $ok ) {
		++$GLOBALS['rs']['passed'];
		rs_say( '  ok    ' . $what );
	} else {
		++$GLOBALS['rs']['failed'];
		rs_say( '  FAIL  ' . $what . ( null === $got ? '' : ' — got ' . json_encode( $got, JSON_UNESCAPED_SLASHES ) ) );
	}
	return $ok;
}

/**
 * Http does one request; JSON in and out.
 *
 * @param string     $method  Method.
 * @param string     $url     URL.
 * @param array|null $json    Body.
 * @param array      $headers Extra headers.
 * @return array{code:int,headers:array,body:string,json:mixed}
 */
function rs_http( string $method, string $url, ?array $json = null, array $headers = array() ): array {
	$h = '';
	foreach ( $headers as $k => $v ) {
		$h .= "$k: $v\r\n";
	}
	if ( null !== $json ) {
		$h .= "Content-Type: application/json\r\n";
	}
	$ctx  = stream_context_create(
		array(
			'http' => array(
				'method'          => $method,
				'header'          => $h,
				'content'         => null === $json ? '' : json_encode( $json ),
				'timeout'         => 60,
				'ignore_errors'   => true,
				'follow_location' => 0,
			),
		)
	);
	$body = @file_get_contents( $url, false, $ctx );
	$code = 0;
	$out  = array();
	foreach ( $http_response_header ?? array() as $line ) {
		if ( preg_match( '#^HTTP/\S+ (\d+)#', $line, $m ) ) {
			$code = (int) $m[1];
			$out  = array();
		} elseif ( false !== strpos( $line, ':' ) ) {
			list( $k, $v )              = explode( ':', $line, 2 );
			$out[ strtolower( trim( $k ) ) ] = trim( $v );
		}
	}
	$body = false === $body ? '' : $body;
	return array(
		'code'    => $code,
		'headers' => $out,
		'body'    => $body,
		'json'    => json_decode( $body, true ),
	);
}

/**
 * Wp runs one wp.php command in a fresh PHP process.
 *
 * @param string $cmd  Command.
 * @param string ...$args Arguments.
 * @return array
 */
function rs_wp( string $cmd, string ...$args ): array {
	$rs   = $GLOBALS['rs'];
	$line = 'php ' . escapeshellarg( $rs['here'] . '/wp.php' ) . ' ' . escapeshellarg( $rs['wp'] ) . ' ' . escapeshellarg( $cmd );
	foreach ( $args as $a ) {
		$line .= ' ' . escapeshellarg( $a );
	}
	$out  = array();
	$code = 0;
	exec( $line . ' 2>>' . escapeshellarg( $rs['dir'] . '/wp-cli.err' ), $out, $code );
	$json = json_decode( (string) end( $out ), true );
	if ( 0 !== $code || ! is_array( $json ) ) {
		throw new RuntimeException( "wp.php $cmd failed (exit $code): " . implode( "\n", $out ) . ' — see ' . $rs['dir'] . '/wp-cli.err' );
	}
	return $json;
}

/**
 * Until polls $f every 200 ms until it returns a truthy value or time runs out.
 *
 * @param callable $f       Probe.
 * @param float    $seconds Time limit.
 * @return mixed The probe's last value.
 */
function rs_until( callable $f, float $seconds ) {
	$end = microtime( true ) + $seconds;
	do {
		$v = $f();
		if ( $v ) {
			return $v;
		}
		usleep( 200000 );
	} while ( microtime( true ) < $end );
	return $v;
}

/**
 * Checkout places a Store API (block checkout) order for one product.
 *
 * @param string $gateway Gateway name.
 * @param int    $product Product id.
 * @param int    $qty     Quantity.
 * @return array{id:int,redirect:string,gid:string}
 */
function rs_checkout( string $gateway, int $product, int $qty = 1 ): array {
	$api  = $GLOBALS['rs']['url'] . '/wp-json/wc/store/v1';
	$cart = rs_http( 'GET', $api . '/cart' );
	$hdr  = array(
		'Nonce'      => $cart['headers']['nonce'] ?? '',
		'Cart-Token' => $cart['headers']['cart-token'] ?? '',
	);
	$add = rs_http( 'POST', $api . '/cart/add-item', array( 'id' => $product, 'quantity' => $qty ), $hdr );
	if ( 201 !== $add['code'] && 200 !== $add['code'] ) {
		throw new RuntimeException( 'add to cart: HTTP ' . $add['code'] . ' ' . substr( $add['body'], 0, 300 ) );
	}
	$address = array(
		'first_name' => 'Ada',
		'last_name'  => 'Lovelace',
		'address_1'  => '12 Analytical Row',
		'city'       => 'Los Angeles',
		'state'      => 'CA',
		'postcode'   => '90001',
		'country'    => 'US',
		'email'      => 'ada@customer.test',
		'phone'      => '5550100',
	);
	$co = rs_http(
		'POST',
		$api . '/checkout',
		array(
			'billing_address'  => $address,
			'shipping_address' => array_diff_key( $address, array( 'email' => 1 ) ),
			'payment_method'   => 'wcbridge_' . $gateway,
			'payment_data'     => array(),
		),
		$hdr
	);
	$id = (int) ( $co['json']['order_id'] ?? 0 );
	if ( 200 !== $co['code'] || $id <= 0 ) {
		throw new RuntimeException( 'checkout with ' . $gateway . ': HTTP ' . $co['code'] . ' ' . substr( $co['body'], 0, 500 ) );
	}
	$o = rs_wp( 'inspect', (string) $id );
	return array(
		'id'       => $id,
		'redirect' => (string) ( $co['json']['payment_result']['redirect_url'] ?? '' ),
		'gid'      => $o['payment_id'],
		'result'   => (string) ( $co['json']['payment_result']['payment_status'] ?? '' ),
	);
}

/**
 * Pay pays (or expires) a payment at the gateway's simulator.
 *
 * @param string $gateway Gateway.
 * @param string $gid     Gateway payment id.
 * @param string $mode    exact, under, over, expire.
 */
function rs_pay( string $gateway, string $gid, string $mode = 'exact' ): void {
	$sim = $GLOBALS['rs']['sims'][ $gateway ];
	$url = 'expire' === $mode ? "$sim/_sim/" . rawurlencode( $gid ) . '/expire' : "$sim/_sim/" . rawurlencode( $gid ) . '/pay?mode=' . $mode;
	$r   = rs_http( 'POST', $url );
	if ( 200 !== $r['code'] ) {
		throw new RuntimeException( "$gateway simulator $mode $gid: HTTP " . $r['code'] . ' ' . substr( $r['body'], 0, 200 ) );
	}
}

/**
 * Settle waits until the sidecar has applied a payment to the order (for
 * Bitstream, which sends no callbacks, the customer's return asks it).
 *
 * @param string $gateway Gateway.
 * @param int    $id      Order id.
 * @param string $status  Status the order must reach.
 */
function rs_settle( string $gateway, int $id, string $status ): array {
	if ( 'bitstream' === $gateway ) {
		rs_wp( 'recheck', (string) $id );
	}
	return rs_until(
		static function () use ( $id, $status ) {
			$o = rs_wp( 'inspect', (string) $id );
			return $o['status'] === $status ? $o : null;
		},
		30
	) ?? rs_wp( 'inspect', (string) $id );
}

/**
 * Finished waits until WordPress has answered $n of the sidecar's
 * notifications for the order (the plugin's work on them is over), and
 * returns the order.
 *
 * @param int $id Order id.
 * @param int $n  Notifications.
 */
function rs_finished( int $id, int $n ): array {
	rs_until(
		static function () use ( $id, $n ) {
			return count( rs_wp( 'delivered', (string) $id )['delivered'] ) >= $n;
		},
		45
	);
	return rs_wp( 'inspect', (string) $id );
}

/**
 * Mails lists the captured e-mails mentioning an order number.
 *
 * @param int $id Order id.
 */
function rs_mails( int $id ): array {
	$file = $GLOBALS['rs']['dir'] . '/mail.jsonl';
	$out  = array();
	foreach ( is_file( $file ) ? file( $file, FILE_IGNORE_NEW_LINES ) : array() as $line ) {
		$m = json_decode( $line, true );
		if ( is_array( $m ) && ( preg_match( '/#' . $id . '\b/', $m['subject'] . ' ' . $m['text'] ) ) ) {
			$out[] = $m;
		}
	}
	return $out;
}

/**
 * Subjects lists e-mail subjects with the recipient, for the report.
 *
 * @param array $mails E-mails.
 */
function rs_subjects( array $mails ): array {
	return array_map(
		static function ( $m ) {
			return $m['to'] . ': ' . $m['subject'];
		},
		$mails
	);
}

/**
 * Hooks reads the recorded actions of one label, normalised: the order's id
 * and the transaction id replaced by placeholders, so that two orders'
 * sequences compare.
 *
 * @param string $label Label (event id or fixture name).
 * @param int    $id    Order id.
 * @param string $txn   Transaction id.
 * @return string[] "depth hook(args)" lines.
 */
function rs_hooks( string $label, int $id, string $txn ): array {
	$file = $GLOBALS['rs']['dir'] . '/hooks.jsonl';
	$rows = array();
	foreach ( is_file( $file ) ? file( $file, FILE_IGNORE_NEW_LINES ) : array() as $line ) {
		$h = json_decode( $line, true );
		if ( is_array( $h ) && $h['label'] === $label ) {
			$rows[] = $h;
			if ( '' === $txn && in_array( $h['hook'], array( 'woocommerce_pre_payment_complete', 'woocommerce_payment_complete' ), true ) && isset( $h['args'][1] ) && is_string( $h['args'][1] ) ) {
				$txn = $h['args'][1];
			}
		}
	}
	$out = array();
	foreach ( $rows as $h ) {
		$args = array();
		foreach ( $h['args'] as $i => $a ) {
			if ( 0 === $i && is_int( $a ) && false !== strpos( $h['hook'], 'order_item' ) ) {
				$a = 'ITEM'; // An item id can equal an order id: checked first.
			} elseif ( $a === $id ) {
				$a = 'ID';
			} elseif ( '' !== $txn && $a === $txn ) {
				$a = 'TXN';
			} elseif ( is_int( $a ) && 'woocommerce_order_note_added' === $h['hook'] ) {
				$a = 'NOTE';
			} elseif ( is_string( $a ) ) {
				// The order number in e-mail headings, stock levels before and after.
				$a = preg_replace( array( '/#' . $id . '\b/', '/^transition:\d+>\d+$/' ), array( '#ID', 'transition:STOCK' ), $a );
				$a = str_replace( rtrim( $GLOBALS['rs']['wp'], '/' ) . '/', 'WP/', $a );
			}
			$args[] = $a;
		}
		$out[] = $h['depth'] . ' ' . $h['hook'] . '(' . implode( ',', array_map( 'json_encode', $args ) ) . ')';
	}
	return $out;
}

/**
 * Compare_hooks checks that the plugin fired, for a transition the sidecar
 * made, what WooCommerce's own code fires for it: the same actions, in the
 * same order, at the same depth, with the same arguments (listeners'
 * actions included: stock, e-mails, downloads, counts).
 *
 * @param string $what      Report text.
 * @param array  $plugin    Hooks of the plugin's finishing.
 * @param array  $woo       Hooks of WooCommerce's own path.
 */
function rs_compare_hooks( string $what, array $plugin, array $woo ): void {
	// woocommerce_email fires once per request, when WooCommerce's mailer is
	// first built; woocommerce_product_read whenever a product is loaded from
	// the database rather than a cache. Neither marks a step of the
	// transition; both depend on what the request did before.
	$ignore = '/^\d+ woocommerce_(email|product_read)\(/';
	// The shop's "needs attention" e-mail follows the transition; WooCommerce
	// sends none (it is checked on its own).
	foreach ( $plugin as $i => $line ) {
		if ( false !== strpos( $line, 'wcbridge-payment-attention' ) ) {
			$plugin = array_slice( $plugin, 0, $i );
			break;
		}
	}
	$p      = array_values( preg_grep( $ignore, $plugin, PREG_GREP_INVERT ) );
	$w      = array_values( preg_grep( $ignore, $woo, PREG_GREP_INVERT ) );
	$ok     = $p === $w && ! empty( $w );
	if ( ! rs_check( $ok, $what . ' (' . count( $w ) . ' actions)' ) ) {
		$diff = array();
		$n    = max( count( $p ), count( $w ) );
		for ( $i = 0; $i < $n; $i++ ) {
			$diff[] = sprintf( '      %s %-70s | %s', ( $p[ $i ] ?? '' ) === ( $w[ $i ] ?? '' ) ? ' ' : '!', $w[ $i ] ?? '-', $p[ $i ] ?? '-' );
		}
		rs_say( '      WooCommerce | plugin' );
		foreach ( $diff as $d ) {
			rs_say( $d );
		}
	}
}

/**
 * Fixture writes WooCommerce's own hook sequence of a transition to the
 * fixtures directory (for the plugin's PHPUnit tests).
 *
 * @param string $name  Fixture name.
 * @param array  $hooks Normalised hooks.
 * @param array  $meta  What the fixture is.
 */
function rs_fixture( string $name, array $hooks, array $meta ): void {
	$dir = $GLOBALS['rs']['fixtures'];
	if ( '' === $dir ) {
		return;
	}
	if ( ! is_dir( $dir ) ) {
		mkdir( $dir, 0777, true );
	}
	file_put_contents( "$dir/$name.json", json_encode( array_merge( $meta, array( 'hooks' => $hooks ) ), JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES ) . "\n" );
}

/**
 * Woocommerce_path runs WooCommerce's own code on an order in php-fpm (the
 * shop's caches included), its actions recorded under $label.
 *
 * @param string $label Label.
 * @param int    $id    Order id.
 * @param string $what  payment_complete or update_status.
 * @param string $arg   Transaction id or status.
 */
function rs_woocommerce_path( string $label, int $id, string $what, string $arg ): void {
	$r = rs_http(
		'POST',
		$GLOBALS['rs']['url'] . '/wp-json/wcbridge-rs/v1/woocommerce-path',
		array(
			'label'    => $label,
			'order_id' => $id,
			'what'     => $what,
			'arg'      => $arg,
		)
	);
	if ( 200 !== $r['code'] ) {
		throw new RuntimeException( "WooCommerce's $what on order $id: HTTP " . $r['code'] . ' ' . substr( $r['body'], 0, 300 ) );
	}
}

/**
 * Twin records WooCommerce's own path on an order like the one under test.
 *
 * @param string $name     Fixture name.
 * @param string $gateway  Gateway.
 * @param int    $product  Product.
 * @param array  $steps    Each [path, arg] run in order; the last is recorded.
 * @return array Normalised hooks of the recorded step.
 */
function rs_twin( string $name, string $gateway, int $product, array $steps ): array {
	$twin  = rs_checkout( $gateway, $product );
	$label = 'woocommerce:' . $name . ':' . $twin['id'];
	$last  = count( $steps ) - 1;
	foreach ( $steps as $i => $step ) {
		rs_woocommerce_path( $i === $last ? $label : 'setup:' . $label, $twin['id'], $step[0], $step[1] );
	}
	$hooks = rs_hooks( $label, $twin['id'], '' );
	rs_fixture(
		$name,
		$hooks,
		array(
			'what'        => $steps[ $last ][0] . '(' . $steps[ $last ][1] . ') by WooCommerce itself, recorded by scripts/realstore',
			'woocommerce' => $GLOBALS['rs']['wc_version'],
			'storage'     => $GLOBALS['rs']['mode'],
		)
	);
	return $hooks;
}

/**
 * Event_hooks is the plugin's recorded finishing of an order's event that
 * matches a pattern.
 *
 * @param array  $o       Inspected order.
 * @param string $pattern Regular expression on the event id.
 */
function rs_event_hooks( array $o, string $pattern ): array {
	foreach ( $o['finished'] as $ev ) {
		if ( preg_match( $pattern, $ev ) ) {
			return rs_hooks( $ev, (int) $o['id'], '' );
		}
	}
	return array();
}

/**
 * Has_note reports whether a note contains $text.
 *
 * @param array  $o    Inspected order.
 * @param string $text Text.
 */
function rs_has_note( array $o, string $text ): bool {
	foreach ( $o['notes'] as $n ) {
		if ( false !== stripos( $n, $text ) ) {
			return true;
		}
	}
	return false;
}

/**
 * Has_mail reports whether an e-mail to $to with $subject (a regular
 * expression) was captured, optionally containing $text.
 *
 * @param array  $mails   E-mails.
 * @param string $to      Recipient.
 * @param string $subject Pattern.
 * @param string $text    Text the body contains.
 */
function rs_has_mail( array $mails, string $to, string $subject, string $text = '' ): bool {
	foreach ( $mails as $m ) {
		if ( false !== strpos( $m['to'], $to ) && preg_match( $subject, $m['subject'] ) && ( '' === $text || false !== stripos( $m['text'], $text ) ) ) {
			return true;
		}
	}
	return false;
}

/**
 * Fpm_stop takes WordPress down (php-fpm stopped; nginx answers 502).
 */
function rs_fpm_stop(): void {
	$pid = (int) trim( (string) @file_get_contents( (string) getenv( 'RS_FPM_PIDFILE' ) ) );
	if ( $pid > 0 ) {
		posix_kill( $pid, 15 );
	}
	rs_until(
		static function () {
			return ! @fsockopen( '127.0.0.1', (int) getenv( 'RS_FPM_PORT' ), $no, $str, 0.2 );
		},
		10
	);
}

/**
 * Fpm_start brings WordPress back.
 */
function rs_fpm_start(): void {
	exec( 'setsid ' . getenv( 'RS_FPM_CMD' ) . ' >>' . escapeshellarg( (string) getenv( 'RS_FPM_LOG' ) ) . ' 2>&1 </dev/null &' );
	rs_until(
		static function () {
			return (bool) @fsockopen( '127.0.0.1', (int) getenv( 'RS_FPM_PORT' ), $no, $str, 0.2 );
		},
		10
	);
}

/**
 * Fpm_view is how WordPress, served by php-fpm (through the persistent object
 * cache when there is one), sees an order and the order counts.
 *
 * @param int $id Order id.
 */
function rs_fpm_view( int $id ): array {
	$r = rs_http( 'GET', $GLOBALS['rs']['url'] . '/wp-json/wcbridge-rs/v1/order/' . $id );
	return is_array( $r['json'] ) ? $r['json'] : array( 'status' => null, 'counts' => array(), 'cache' => '?' );
}

/**
 * Check_caches checks that WordPress over php-fpm sees the order and the
 * counts as they are in the database (the command line has no persistent
 * cache).
 *
 * @param int $id Order id.
 */
function rs_check_caches( int $id ): void {
	$view   = rs_fpm_view( $id );
	$truth  = rs_wp( 'inspect', (string) $id )['status'];
	$counts = rs_wp( 'counts' );
	rs_check( $view['status'] === $truth && $view['counts'] == $counts, sprintf( 'caches: WordPress (%s object cache) sees the order as %s and the order counts as in the database', 'persistent' === $view['cache'] ? 'persistent' : 'no', $truth ), array( $view, $truth, $counts ) );
}

/**
 * Want reports whether a scenario is to run (RS_ONLY: a comma-separated list; empty: all).
 *
 * @param string $name Scenario.
 */
function rs_want( string $name ): bool {
	$only = (string) getenv( 'RS_ONLY' );
	return '' === $only || in_array( $name, explode( ',', $only ), true );
}

// -------------------------------------------------------------------------
$setup            = json_decode( (string) file_get_contents( $rs['dir'] . '/setup.json' ), true );
$mug              = (int) $setup['mug'];
$ebook            = (int) $setup['ebook'];
$rs['wc_version'] = (string) $setup['woocommerce'];
$mode             = rs_wp( 'mode' );
rs_say( sprintf( 'storage: WooCommerce reports HPOS %s, sync %s', $mode['hpos'] ? 'on' : 'off', $mode['sync'] ? 'on' : 'off' ) );
$want_hpos = in_array( $rs['mode'], array( 'hpos', 'hpos+sync' ), true );
$want_sync = in_array( $rs['mode'], array( 'hpos+sync', 'posts+sync' ), true );
rs_check( $mode['hpos'] === $want_hpos && $mode['sync'] === $want_sync, 'WooCommerce runs the storage mode under test' );
if ( 'apcu' === $rs['cache'] ) {
	rs_http( 'POST', $rs['url'] . '/wp-json/wcbridge-rs/v1/flush' );
	rs_check( 'persistent' === ( rs_fpm_view( 0 )['cache'] ?? '' ), 'WordPress runs with a persistent object cache (APCu)' );
}

try {
	// 1. Each gateway: a Store API order paid exactly.
	if ( rs_want( 'paid' ) ) {
		$fixture_paid = rs_twin( 'paid-pending-to-processing', 'streampay', $mug, array( array( 'payment_complete', 'txn-fixture' ) ) );
		foreach ( array( 'streampay', 'cryptocloud', 'bitstream' ) as $gateway ) {
			rs_say( "$gateway: Store API checkout, paid exactly" );
			$c      = rs_checkout( $gateway, $mug );
			rs_check( 'success' === $c['result'] && preg_match( '#^https?://#', $c['redirect'] ) && '' !== $c['gid'], 'checkout answers a redirect to the gateway', $c );
			$o0    = rs_wp( 'inspect', (string) $c['id'] );
			$stock = $o0['stock']['Mug'];
			rs_fpm_view( $c['id'] ); // WordPress caches the pending order and the counts.
			rs_pay( $gateway, $c['gid'] );
			rs_settle( $gateway, $c['id'], 'processing' );
			$o = rs_finished( $c['id'], 1 );
			rs_check( 'processing' === $o['status'], 'order is processing', $o['status'] );
			rs_check( rs_has_note( $o, 'received via' ), 'the payment note is on the order', $o['notes'] );
			rs_check( $o['stock']['Mug'] === $stock - 1 && $o['stock_reduced'], 'stock reduced once (' . $stock . ' → ' . ( $stock - 1 ) . ')', $o['stock'] );
			rs_check( $o['recorded_sales'] && null !== $o['date_paid'] && '' !== $o['transaction_id'], 'sales recorded, paid date and transaction id set' );
			$mails = rs_mails( $c['id'] );
			rs_check( rs_has_mail( $mails, 'admin@shop.test', '/New order/i' ) && rs_has_mail( $mails, 'ada@customer.test', '/received|processing/i' ) && 2 === count( $mails ), 'e-mails: the shop\'s "New order" and the customer\'s "processing", once each', rs_subjects( $mails ) );
			rs_compare_hooks( 'hooks: pending → processing as WooCommerce\'s payment_complete() fires them', rs_event_hooks( $o, '/:paid$/' ), $fixture_paid );
			rs_check_caches( $c['id'] );
		}
	}

	// 2. Virtual and downloadable: completed, download permission granted.
	if ( rs_want( 'download' ) ) {
		rs_say( 'cryptocloud: an e-book (virtual, downloadable) paid' );
		$fixture_completed = rs_twin( 'paid-pending-to-completed', 'cryptocloud', $ebook, array( array( 'payment_complete', 'txn-fixture' ) ) );
		$c                 = rs_checkout( 'cryptocloud', $ebook );
		rs_pay( 'cryptocloud', $c['gid'] );
		rs_settle( 'cryptocloud', $c['id'], 'completed' );
		$o = rs_finished( $c['id'], 1 );
		rs_check( 'completed' === $o['status'] && $o['downloads'] > 0, 'order is completed with a download permission', array( $o['status'], $o['downloads'] ) );
		rs_check( rs_has_mail( rs_mails( $c['id'] ), 'ada@customer.test', '/complete/i' ), 'the customer\'s "completed" e-mail', rs_subjects( rs_mails( $c['id'] ) ) );
		rs_compare_hooks( 'hooks: pending → completed as payment_complete() fires them', rs_event_hooks( $o, '/:paid$/' ), $fixture_completed );
	}

	// 3. Underpaid, then the rest.
	if ( rs_want( 'underpaid' ) ) {
		rs_say( 'cryptocloud: underpaid, then the rest paid' );
		$fixture_hold    = rs_twin( 'on-hold-pending-to-on-hold', 'cryptocloud', $mug, array( array( 'update_status', 'on-hold' ) ) );
		$fixture_topup   = rs_twin( 'paid-on-hold-to-processing', 'cryptocloud', $mug, array( array( 'update_status', 'on-hold' ), array( 'payment_complete', 'txn-fixture' ) ) );
		$c               = rs_checkout( 'cryptocloud', $mug );
		$stock           = rs_wp( 'inspect', (string) $c['id'] )['stock']['Mug'];
		rs_pay( 'cryptocloud', $c['gid'], 'under' );
		rs_settle( 'cryptocloud', $c['id'], 'on-hold' );
		$o     = rs_finished( $c['id'], 1 );
		$mails = rs_mails( $c['id'] );
		rs_check( 'on-hold' === $o['status'] && 'underpaid' === $o['payment_status'], 'order is on hold, payment underpaid', array( $o['status'], $o['payment_status'] ) );
		rs_check( $o['stock']['Mug'] === $stock - 1, 'stock reduced for the held order (as WooCommerce does on hold)', $o['stock'] );
		rs_check( rs_has_mail( $mails, 'ada@customer.test', '/on.hold|received/i', 'is still missing' ) && rs_has_mail( $mails, 'ada@customer.test', '/on.hold|received/i', 'Pay the rest' ), 'the customer\'s on-hold e-mail says how much is missing, with the payment link', rs_subjects( $mails ) );
		rs_check( rs_has_mail( $mails, 'admin@shop.test', '/needs attention/i', 'Underpaid' ), 'the shop\'s "needs attention" e-mail: underpaid', rs_subjects( $mails ) );
		rs_compare_hooks( 'hooks: pending → on-hold as update_status() fires them', rs_event_hooks( $o, '/:underpaid$/' ), $fixture_hold );
		rs_pay( 'cryptocloud', $c['gid'], 'exact' );
		rs_settle( 'cryptocloud', $c['id'], 'processing' );
		$o = rs_finished( $c['id'], 2 );
		rs_check( 'processing' === $o['status'] && $o['stock']['Mug'] === $stock - 1, 'topped up: processing, stock not reduced twice', array( $o['status'], $o['stock'] ) );
		rs_compare_hooks( 'hooks: on-hold → processing as payment_complete() fires them', rs_event_hooks( $o, '/:paid$/' ), $fixture_topup );
	}

	// 4. Overpaid.
	if ( rs_want( 'overpaid' ) ) {
		rs_say( 'bitstream: overpaid' );
		$c = rs_checkout( 'bitstream', $mug );
		rs_pay( 'bitstream', $c['gid'], 'over' );
		rs_settle( 'bitstream', $c['id'], 'processing' );
		$o     = rs_finished( $c['id'], 1 );
		$mails = rs_mails( $c['id'] );
		rs_check( 'processing' === $o['status'] && rs_has_note( $o, 'excess' ), 'processing, the excess noted', $o['notes'] );
		rs_check( rs_has_mail( $mails, 'admin@shop.test', '/needs attention/i', 'Overpaid' ), 'the shop\'s "needs attention" e-mail: overpaid', rs_subjects( $mails ) );
	}

	// 5. Expired unpaid: cancelled, held stock back.
	if ( rs_want( 'expired' ) ) {
		rs_say( 'streampay: expired unpaid' );
		$fixture_cancel = rs_twin( 'cancelled-pending-to-cancelled', 'streampay', $mug, array( array( 'update_status', 'cancelled' ) ) );
		$c              = rs_checkout( 'streampay', $mug );
		$stock          = rs_wp( 'inspect', (string) $c['id'] )['stock']['Mug'];
		rs_pay( 'streampay', $c['gid'], 'expire' );
		rs_settle( 'streampay', $c['id'], 'cancelled' );
		$o = rs_finished( $c['id'], 1 );
		rs_check( 'cancelled' === $o['status'] && $o['stock']['Mug'] === $stock && ! $o['stock_reduced'], 'cancelled, stock unchanged', array( $o['status'], $o['stock'] ) );
		rs_compare_hooks( 'hooks: pending → cancelled as update_status() fires them', rs_event_hooks( $o, '/:expired$/' ), $fixture_cancel );

		// The money arrives after all: a late payment on the cancelled order.
		rs_say( 'streampay: the expired payment paid late' );
		$fixture_late = rs_twin( 'paid-cancelled-to-processing', 'streampay', $mug, array( array( 'update_status', 'cancelled' ), array( 'payment_complete', 'txn-fixture' ) ) );
		$stock        = rs_wp( 'inspect', (string) $c['id'] )['stock']['Mug']; // The twin took one.
		rs_pay( 'streampay', $c['gid'] );
		rs_settle( 'streampay', $c['id'], 'processing' );
		$o     = rs_finished( $c['id'], 2 );
		$mails = rs_mails( $c['id'] );
		rs_check( 'processing' === $o['status'] && rs_has_note( $o, 'still in stock' ) && $o['stock']['Mug'] === $stock - 1, 'processing, a note to check the stock, stock taken once', array( $o['status'], $o['stock'] ) );
		rs_check( rs_has_mail( $mails, 'admin@shop.test', '/needs attention/i', 'Paid late' ), 'the shop\'s "needs attention" e-mail: paid late', rs_subjects( $mails ) );
		rs_compare_hooks( 'hooks: cancelled → processing as payment_complete() fires them', rs_event_hooks( $o, '/:paid$/' ), $fixture_late );
	}

	// Transitions WooCommerce makes that the sidecar can make but these
	// scenarios do not reach (recorded for the PHPUnit fixtures).
	if ( '' !== $rs['fixtures'] && rs_want( 'fixtures' ) ) {
		rs_twin( 'failed-pending-to-failed', 'streampay', $mug, array( array( 'update_status', 'failed' ) ) );
		rs_twin( 'on-hold-cancelled-to-on-hold', 'streampay', $mug, array( array( 'update_status', 'cancelled' ), array( 'update_status', 'on-hold' ) ) );
	}

	// The shop's e-mail is WooCommerce's: listed in its settings, switchable.
	if ( rs_want( 'emailswitch' ) ) {
		rs_say( 'the shop\'s "needs attention" e-mail in WooCommerce → Settings → Emails' );
		$c = rs_checkout( 'streampay', $mug );
		$e = rs_wp( 'attention-switch', (string) $c['id'] );
		rs_check( $e['listed'] && 'wcbridge_payment_attention' === $e['id'] && 1 === $e['sent_when_on'] && 0 === $e['sent_when_off'], 'listed among WooCommerce\'s e-mails; sent when on, not when switched off', $e );
	}

	// 6. A forged "paid" for an order not paid in the database.
	if ( rs_want( 'forged' ) ) {
		rs_say( 'a signed "paid" notification for an order that is not paid' );
		$c = rs_checkout( 'streampay', $mug );
		$f = rs_wp( 'forged-paid', (string) $c['id'] );
		$o = rs_wp( 'inspect', (string) $c['id'] );
		rs_check( 409 === $f['code'] && 'pending' === $o['status'] && empty( $o['finished'] ) && empty( rs_mails( $c['id'] ) ), 'answered 409; the order is untouched, nothing sent', array( $f, $o['status'] ) );
	}

	// 7. The hold-stock timer.
	if ( rs_want( 'holdstock' ) ) {
		rs_say( 'WooCommerce\'s unpaid-order job against a live crypto payment (and an order whose hold ran out)' );
		$control = rs_checkout( 'bitstream', $mug );
		$h       = (array) rs_http( 'POST', $rs['url'] . '/wp-json/wcbridge-rs/v1/unpaid-job', array( 'order_id' => $c['id'], 'control_id' => $control['id'] ) )['json'];
		rs_check( false === $h['wc_10_0'] && false === $h['wc_10_6'] && 'pending' === $h['after_job'], 'kept: with 10.0\'s rule, with 10.6\'s (Store API orders too), and by the job run from Action Scheduler as 10.1 runs it', $h );
		rs_check( true === $h['control_wc_10_6'] && 'complete' === $h['action'] && 'cancelled' === $h['control_after_job'], 'the same job cancels an order whose hold ran out (10.6\'s rule): the job did run', $h );
	}

	// 8. WordPress down; the shop cancels the order meanwhile; WordPress back.
	if ( rs_want( 'moved' ) ) {
		rs_say( 'cryptocloud: paid while WordPress is down and the shop cancels the order meanwhile' );
		$c     = rs_checkout( 'cryptocloud', $mug );
		$stock = rs_wp( 'inspect', (string) $c['id'] )['stock']['Mug'];
		rs_fpm_view( $c['id'] );
		rs_fpm_stop();
		rs_pay( 'cryptocloud', $c['gid'] );
		rs_settle( 'cryptocloud', $c['id'], 'processing' );
		rs_wp( 'shop-cancel', (string) $c['id'] );
		rs_fpm_start();
		$o     = rs_finished( $c['id'], 1 );
		$mails = rs_mails( $c['id'] );
		rs_check( 'cancelled' === $o['status'] && rs_has_note( $o, 'was received after the order was changed to "Cancelled"' ) && rs_has_note( $o, 'Reinstate the order or refund the payment' ), 'still cancelled, with a private note: reinstate or refund', $o['notes'] );
		rs_check( $o['stock']['Mug'] === $stock && ! $o['stock_reduced'], 'no stock taken for the cancelled order', $o['stock'] );
		rs_check( ! rs_has_mail( $mails, 'ada@customer.test', '/received|processing/i' ) && rs_has_mail( $mails, 'admin@shop.test', '/needs attention/i', 'Reinstate' ), 'no "order received" e-mail after the cancellation; the shop is e-mailed', rs_subjects( $mails ) );
		rs_check( array() === array_filter( rs_event_hooks( $o, '/:paid$/' ), static fn( $h ) => false !== strpos( $h, 'payment_complete' ) || false !== strpos( $h, 'status_processing' ) ), 'nothing of the payment transition was fired' );
		rs_check_caches( $c['id'] );
	}

	// 9. A WordPress outage: how fast finishing follows WordPress back.
	if ( $rs['outage'] > 0 && rs_want( 'outage' ) ) {
		rs_say( sprintf( 'WordPress down for %d s while 6 orders are paid', $rs['outage'] ) );
		$orders = array();
		foreach ( array( 'streampay', 'cryptocloud', 'bitstream', 'streampay', 'cryptocloud', 'bitstream' ) as $g ) {
			$orders[] = array( $g, rs_checkout( $g, $mug ) );
		}
		rs_fpm_stop();
		$down = microtime( true );
		foreach ( $orders as list( $g, $c ) ) {
			rs_pay( $g, $c['gid'] );
			rs_settle( $g, $c['id'], 'processing' );
		}
		$left = $rs['outage'] - ( microtime( true ) - $down );
		if ( $left > 0 ) {
			usleep( (int) ( $left * 1e6 ) );
		}
		rs_fpm_start();
		$back = microtime( true ); // php-fpm listens again: WordPress can answer.
		$at   = array();
		foreach ( $orders as list( $g, $c ) ) {
			rs_finished( $c['id'], 1 );
			$at = array_merge( $at, rs_wp( 'delivered', (string) $c['id'] )['at'] );
		}
		sort( $at );
		// WordPress's own time per notification, from nginx's log.
		$wp_time = array();
		foreach ( file( (string) getenv( 'RS_NGINX_LOG' ) ) as $line ) {
			if ( preg_match( '#\[(\S+) \S+\] "POST /wp-json/wcbridge/v1/notify[^"]*" 200 \d+ ([\d.]+)#', $line, $m ) && DateTime::createFromFormat( 'd/M/Y:H:i:s', $m[1], new DateTimeZone( 'UTC' ) )->getTimestamp() >= (int) $back ) {
				$wp_time[] = (float) $m[2];
			}
		}
		$detect = $at[0] - $back - ( $wp_time[0] ?? 0.0 );
		$total  = end( $at ) - $back;
		$busy   = array_sum( $wp_time );
		rs_say( sprintf( '  figures: first notification accepted %.1f s after WordPress was back (one probe per pass; reconcile.interval %s); all 6 finished %.1f s after it in %d requests taking WordPress %.1f s together (load average %.1f)', $detect, (string) getenv( 'RS_INTERVAL' ), $total, count( $wp_time ), $busy, sys_getloadavg()[0] ) );
		rs_check( count( $at ) === 6, 'every notification delivered after the outage', count( $at ) );
		rs_check( $detect <= (float) getenv( 'RS_INTERVAL' ) + 2.0, sprintf( 'the sidecar noticed WordPress back within one pass (%.1f s)', $detect ) );
		rs_check( $total - $busy <= $detect + 3.0, sprintf( 'the backlog went out at once: %.1f s besides WordPress\'s own time', max( 0.0, $total - $busy ) ) );
		rs_say( sprintf( '  target "backlog finished within 10 s of WordPress answering again": %s (%.1f s)', $total <= 10.0 ? 'met' : 'missed', $total ) );
	}
} catch ( Throwable $e ) {
	rs_check( false, 'scenario aborted: ' . $e->getMessage() );
}

// The plugin's own files only: the default work directory's name contains
// "wcbridge" too, so matching the word would count WordPress's and WooCommerce's
// notices (e.g. WooCommerce's "translation loading triggered too early" during setup).
$php_errors = is_file( $rs['dir'] . '/debug.log' ) ? preg_grep( '#PHP (Fatal|Warning|Notice|Deprecated).*/wp-content/plugins/wcbridge/#i', file( $rs['dir'] . '/debug.log' ) ) : array();
rs_check( empty( $php_errors ), 'no PHP error, warning or notice from the plugin in debug.log', array_values( array_slice( $php_errors, 0, 3 ) ) );

rs_say( sprintf( '%d passed, %d failed', $rs['passed'], $rs['failed'] ) );
exit( $rs['failed'] > 0 ? 1 : 0 );
