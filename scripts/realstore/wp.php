<?php
/**
 * WordPress-side steps of the real-store test, each in a fresh PHP process
 * (no cache survives between two calls, as between two requests).
 *
 * Usage: php wp.php <wordpress-dir> <command> [args...]; prints JSON.
 *
 * @package WCBridge
 */

declare(strict_types=1);

// phpcs:disable Squiz.PHP.CommentedOutCode

if ( $argc < 3 ) {
	fwrite( STDERR, "usage: php wp.php <wordpress-dir> <command> [args...]\n" );
	exit( 2 );
}
$wcbridge_rs_wp  = $argv[1];
$wcbridge_rs_cmd = $argv[2];
$wcbridge_rs_arg = array_slice( $argv, 3 );

$_SERVER['HTTP_HOST']   = parse_url( (string) getenv( 'RS_URL' ), PHP_URL_HOST ) . ':' . parse_url( (string) getenv( 'RS_URL' ), PHP_URL_PORT );
$_SERVER['REQUEST_URI'] = '/';
if ( 'install' === $wcbridge_rs_cmd ) {
	define( 'WP_INSTALLING', true );
}
require $wcbridge_rs_wp . '/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
require_once ABSPATH . 'wp-admin/includes/plugin.php';

/**
 * Out prints the result and exits.
 *
 * @param mixed $v Result.
 */
function wcbridge_rs_out( $v ): void {
	echo wp_json_encode( $v, JSON_UNESCAPED_SLASHES ) . "\n";
	exit( 0 );
}

/**
 * Fail prints an error and exits non-zero.
 *
 * @param string $msg Message.
 */
function wcbridge_rs_fail( string $msg ): void {
	fwrite( STDERR, $msg . "\n" );
	exit( 1 );
}

/**
 * Order loads an order or fails.
 *
 * @param mixed $id Order id.
 */
function wcbridge_rs_order( $id ): WC_Order {
	$order = wc_get_order( (int) $id );
	if ( ! $order instanceof WC_Order ) {
		wcbridge_rs_fail( "no order $id" );
	}
	return $order;
}

switch ( $wcbridge_rs_cmd ) {
	case 'install':
		// install <mode: hpos|hpos+sync|posts|posts+sync>
		$mode = $wcbridge_rs_arg[0] ?? 'hpos';
		$r    = wp_install( 'wcbridge real store', 'admin', 'admin@shop.test', false, '', 'realstore-password-1' );
		if ( empty( $r['user_id'] ) ) {
			wcbridge_rs_fail( 'wp_install failed' );
		}
		update_option( 'permalink_structure', '/%postname%/' );
		update_option( 'timezone_string', 'Europe/Berlin' ); // Not UTC: local and GMT columns differ.
		$act = activate_plugin( 'woocommerce/woocommerce.php' );
		if ( is_wp_error( $act ) ) {
			wcbridge_rs_fail( 'activating WooCommerce: ' . $act->get_error_message() );
		}
		WC_Install::install();
		$act = activate_plugin( 'wcbridge/wcbridge.php' );
		if ( is_wp_error( $act ) ) {
			wcbridge_rs_fail( 'activating wcbridge: ' . $act->get_error_message() );
		}
		// The storage mode, set before any order exists.
		update_option( 'woocommerce_custom_orders_table_enabled', in_array( $mode, array( 'hpos', 'hpos+sync' ), true ) ? 'yes' : 'no' );
		update_option( 'woocommerce_custom_orders_table_data_sync_enabled', in_array( $mode, array( 'hpos+sync', 'posts+sync' ), true ) ? 'yes' : 'no' );
		wcbridge_rs_out( array( 'installed' => true ) );
		break;

	case 'setup':
		// setup: the shop, in a process where WooCommerce loads as usual.
		foreach (
			array(
				'woocommerce_currency'                    => 'USD',
				'woocommerce_default_country'             => 'US:CA',
				'woocommerce_store_address'               => '1 Test Street',
				'woocommerce_store_city'                  => 'Testville',
				'woocommerce_store_postcode'              => '90001',
				'woocommerce_manage_stock'                => 'yes',
				'woocommerce_hold_stock_minutes'          => '60',
				'woocommerce_enable_guest_checkout'       => 'yes',
				'woocommerce_calc_taxes'                  => 'no',
				'woocommerce_onboarding_profile'          => array( 'skipped' => true ),
				'woocommerce_coming_soon'                 => 'no',
				'woocommerce_email_from_address'          => 'shop@shop.test',
				'woocommerce_downloads_grant_access_after_payment' => 'yes',
				// The test's download is a local file outside WooCommerce's list.
				'wc_downloads_approved_directories_mode'  => 'disabled',
			) as $k => $v
		) {
			update_option( $k, $v );
		}
		// HPOS tables exist in every mode (the sync modes copy into them).
		$sync = wc_get_container()->get( Automattic\WooCommerce\Internal\DataStores\Orders\DataSynchronizer::class );
		$sync->create_database_tables();
		update_option( 'woocommerce_custom_orders_table_created', 'yes' );
		// A flat-rate shipping zone, as a real shop has.
		$zone = new WC_Shipping_Zone( 0 );
		$zone->add_shipping_method( 'flat_rate' );
		foreach ( array( 'streampay', 'cryptocloud', 'bitstream' ) as $g ) {
			update_option(
				'woocommerce_wcbridge_' . $g . '_settings',
				array(
					'enabled'     => 'yes',
					'title'       => 'Crypto (' . $g . ')',
					'description' => '',
				)
			);
		}
		$mug = new WC_Product_Simple();
		$mug->set_name( 'Mug' );
		$mug->set_regular_price( '20.00' );
		$mug->set_manage_stock( true );
		$mug->set_stock_quantity( 100 );
		$mug->save();
		$ebook = new WC_Product_Simple();
		$ebook->set_name( 'E-book' );
		$ebook->set_regular_price( '9.99' );
		$ebook->set_virtual( true );
		$ebook->set_downloadable( true );
		$file = new WC_Product_Download();
		$file->set_name( 'book.pdf' );
		$file->set_file( home_url( '/wp-content/uploads/book.pdf' ) );
		$ebook->set_downloads( array( $file ) );
		$ebook->save();
		flush_rewrite_rules();
		wcbridge_rs_out(
			array(
				'wordpress'   => get_bloginfo( 'version' ),
				'woocommerce' => WC_VERSION,
				'hpos'        => get_option( 'woocommerce_custom_orders_table_enabled' ),
				'sync'        => get_option( 'woocommerce_custom_orders_table_data_sync_enabled' ),
				'mug'         => $mug->get_id(),
				'ebook'       => $ebook->get_id(),
			)
		);
		break;

	case 'mode':
		// What WooCommerce itself reports: the authoritative storage and sync.
		wcbridge_rs_out(
			array(
				'hpos' => Automattic\WooCommerce\Utilities\OrderUtil::custom_orders_table_usage_is_enabled(),
				'sync' => wc_get_container()->get( Automattic\WooCommerce\Internal\DataStores\Orders\DataSynchronizer::class )->data_sync_is_enabled(),
			)
		);
		break;

	case 'inspect':
		// inspect <order-id>: the order as WooCommerce reads it now.
		$order = wcbridge_rs_order( $wcbridge_rs_arg[0] ?? 0 );
		$notes = array();
		foreach ( array_reverse( wc_get_order_notes( array( 'order_id' => $order->get_id() ) ) ) as $n ) {
			$notes[] = ( $n->customer_note ? '[customer] ' : '' ) . wp_strip_all_tags( $n->content );
		}
		$stock = array();
		$sales = array();
		foreach ( $order->get_items() as $item ) {
			$p = $item->get_product();
			if ( $p ) {
				$stock[ $p->get_name() ] = $p->get_stock_quantity();
				$sales[ $p->get_name() ] = $p->get_total_sales();
			}
		}
		$ds       = $order->get_data_store();
		$finished = $order->get_meta( '_wcbridge_finished', true );
		$figures  = json_decode( (string) $order->get_meta( '_wcbridge_payment', true ), true );
		wcbridge_rs_out(
			array(
				'id'             => $order->get_id(),
				'status'         => $order->get_status(),
				'created_via'    => $order->get_created_via(),
				'payment_method' => $order->get_payment_method(),
				'transaction_id' => $order->get_transaction_id(),
				'date_paid'      => $order->get_date_paid() ? $order->get_date_paid()->date( 'c' ) : null,
				'notes'          => $notes,
				'stock'          => $stock,
				'total_sales'    => $sales,
				'stock_reduced'  => (bool) $ds->get_stock_reduced( $order->get_id() ),
				'recorded_sales' => (bool) $ds->get_recorded_sales( $order ),
				'downloads'      => count( wc_get_customer_available_downloads( 0 ) ) >= 0 ? count( WC_Data_Store::load( 'customer-download' )->get_downloads( array( 'order_id' => $order->get_id() ) ) ) : 0,
				'finished'       => is_array( $finished ) ? array_values( $finished ) : array(),
				'payment_id'     => (string) $order->get_meta( '_wcbridge_payment_id', true ),
				'payment_status' => is_array( $figures ) ? (string) ( $figures['status'] ?? '' ) : '',
				'hold_until'     => (string) $order->get_meta( '_wcbridge_hold_until', true ),
				'transitions'    => array_map(
					static function ( $m ) {
						return $m->value;
					},
					$order->get_meta( '_wcbridge_transition', false )
				),
			)
		);
		break;

	case 'delivered':
		// delivered <order-id>: the sidecar's notifications for the order that
		// WordPress has answered (the plugin's work on them is over).
		global $wpdb;
		$rows = $wpdb->get_results( $wpdb->prepare( "SELECT event_id, UNIX_TIMESTAMP(delivered_at) AS at FROM {$wpdb->prefix}wcbridge_outbox WHERE order_id = %d AND delivered_at IS NOT NULL ORDER BY id", (int) ( $wcbridge_rs_arg[0] ?? 0 ) ) );
		wcbridge_rs_out(
			array(
				'delivered' => array_map(
					static function ( $r ) {
						return $r->event_id;
					},
					(array) $rows
				),
				'at'        => array_map(
					static function ( $r ) {
						return (float) $r->at;
					},
					(array) $rows
				),
			)
		);
		break;

	case 'attention-switch':
		// attention-switch <order-id>: the shop e-mail is one of WooCommerce's
		// e-mails (listed under WooCommerce → Settings → Emails), and switching
		// it off there stops it.
		$order  = wcbridge_rs_order( $wcbridge_rs_arg[0] ?? 0 );
		$emails = WC()->mailer()->get_emails();
		$email  = $emails['WCBridge_Email_Payment_Attention'] ?? null;
		if ( ! $email ) {
			wcbridge_rs_out( array( 'listed' => false ) );
		}
		$file    = WCBRIDGE_RS_DIR . '/mail.jsonl';
		$count   = static function () use ( $file ) {
			return is_file( $file ) ? count( file( $file ) ) : 0;
		};
		$finding = array(
			array(
				'code' => 'test',
				'text' => 'A test finding.',
			),
		);
		$out     = array(
			'listed' => true,
			'id'     => $email->id,
			'title'  => $email->get_title(),
		);
		$before  = $count();
		$email->trigger( $order->get_id(), $order, $finding );
		$out['sent_when_on'] = $count() - $before;
		update_option( 'woocommerce_' . $email->id . '_settings', array_merge( (array) get_option( 'woocommerce_' . $email->id . '_settings', array() ), array( 'enabled' => 'no' ) ) );
		$off    = new WCBridge\Email_Payment_Attention();
		$before = $count();
		$off->trigger( $order->get_id(), $order, $finding );
		$out['sent_when_off'] = $count() - $before;
		update_option( 'woocommerce_' . $email->id . '_settings', array_merge( (array) get_option( 'woocommerce_' . $email->id . '_settings', array() ), array( 'enabled' => 'yes' ) ) );
		wcbridge_rs_out( $out );
		break;

	case 'counts':
		// counts: WooCommerce's order counts by status, as its screens show them.
		$out = array();
		foreach ( array( 'wc-pending', 'wc-processing', 'wc-on-hold', 'wc-cancelled', 'wc-completed' ) as $st ) {
			$out[ $st ] = (int) wc_orders_count( substr( $st, 3 ) );
		}
		wcbridge_rs_out( $out );
		break;

	case 'shop-cancel':
		// shop-cancel <order-id>: the shop cancels the order in WooCommerce.
		$order = wcbridge_rs_order( $wcbridge_rs_arg[0] ?? 0 );
		$order->update_status( 'cancelled', 'Cancelled by the shop.', true );
		wcbridge_rs_out( array( 'status' => wcbridge_rs_order( $order->get_id() )->get_status() ) );
		break;

	case 'recheck':
		// recheck <order-id>: what the customer's return to the shop does.
		$r = WCBridge\Client::from_settings( 10 )->recheck( (int) ( $wcbridge_rs_arg[0] ?? 0 ) );
		wcbridge_rs_out( is_wp_error( $r ) ? array( 'error' => $r->get_error_code() ) : array( 'state' => $r['state'] ?? '' ) );
		break;

	case 'forged-paid':
		// forged-paid <order-id>: a correctly signed "paid" notification for an
		// order the sidecar never marked paid.
		$id   = (int) ( $wcbridge_rs_arg[0] ?? 0 );
		$body = wp_json_encode(
			array(
				'event_id'       => 'wcbridge:999999:paid',
				'order_id'       => $id,
				'outcome'        => 'paid',
				'from_status'    => 'pending',
				'to_status'      => 'processing',
				'transaction_id' => 'forged',
			)
		);
		$url  = rest_url( 'wcbridge/v1/notify' );
		$path = (string) wp_parse_url( $url, PHP_URL_PATH );
		$q    = wp_parse_url( $url, PHP_URL_QUERY );
		$path = $path . ( $q ? '?' . $q : '' );
		$head = WCBridge\Signer::headers( WCBridge\Settings::shared_secret(), 'POST', $path, $body, time() );
		$head['Content-Type'] = 'application/json';
		$resp = wp_remote_post(
			$url,
			array(
				'headers' => $head,
				'body'    => $body,
				'timeout' => 20,
			)
		);
		wcbridge_rs_out(
			array(
				'code' => is_wp_error( $resp ) ? 0 : (int) wp_remote_retrieve_response_code( $resp ),
				'body' => is_wp_error( $resp ) ? $resp->get_error_message() : wp_remote_retrieve_body( $resp ),
			)
		);
		break;

	default:
		wcbridge_rs_fail( "unknown command $wcbridge_rs_cmd" );
}
