<?php
/**
 * Plugin Name: wcbridge real-store instrumentation
 * Description: Test-only: captures outgoing e-mail to a file instead of sending it, and records
 *              the WooCommerce actions fired while the plugin finishes a notification (and while
 *              the test drives WooCommerce's own code), for scripts/realstore. Never install it
 *              in a shop.
 *
 * @package WCBridge
 */

declare(strict_types=1);

defined( 'ABSPATH' ) || exit;

if ( ! defined( 'WCBRIDGE_RS_DIR' ) ) {
	return;
}

/**
 * Wcbridge_rs_append writes one JSON line to a file in the test's directory.
 *
 * @param string $file File name.
 * @param array  $row  Row.
 */
function wcbridge_rs_append( string $file, array $row ): void {
	file_put_contents( WCBRIDGE_RS_DIR . '/' . $file, wp_json_encode( $row ) . "\n", FILE_APPEND | LOCK_EX );
}

// E-mail: written to mail.jsonl, never sent.
add_filter(
	'pre_wp_mail',
	static function ( $short, $atts ) {
		$message = is_string( $atts['message'] ?? null ) ? $atts['message'] : '';
		wcbridge_rs_append(
			'mail.jsonl',
			array(
				'to'      => is_array( $atts['to'] ) ? implode( ',', $atts['to'] ) : (string) $atts['to'],
				'subject' => (string) ( $atts['subject'] ?? '' ),
				'text'    => trim( preg_replace( '/\s+/', ' ', html_entity_decode( wp_strip_all_tags( $message ), ENT_QUOTES, 'UTF-8' ) ) ),
				'at'      => microtime( true ),
			)
		);
		return true;
	},
	10,
	2
);

// Hooks: every action whose name starts with "woocommerce_", with its depth
// below the recording's start and a summary of its arguments.
$GLOBALS['wcbridge_rs'] = array(
	'on'    => false,
	'base'  => 0,
	'label' => '',
	'seen'  => array(),
);

/**
 * Wcbridge_rs_start starts recording; the depth is counted from here.
 *
 * @param string $label What is recorded (a notification's event id, a fixture name).
 * @param int    $base  Hook depth of the caller.
 */
function wcbridge_rs_start( string $label, int $base ): void {
	global $wp_actions;
	$GLOBALS['wcbridge_rs'] = array(
		'on'    => true,
		'base'  => $base,
		'label' => $label,
		'seen'  => is_array( $wp_actions ) ? $wp_actions : array(),
	);
}

/**
 * Wcbridge_rs_stop stops recording.
 */
function wcbridge_rs_stop(): void {
	$GLOBALS['wcbridge_rs']['on'] = false;
}

/**
 * Wcbridge_rs_arg summarises one hook argument.
 *
 * @param mixed $a Argument.
 */
function wcbridge_rs_arg( $a ) {
	if ( is_int( $a ) || is_bool( $a ) || null === $a ) {
		return $a;
	}
	if ( is_string( $a ) ) {
		return is_numeric( $a ) ? (int) $a : substr( $a, 0, 200 );
	}
	if ( $a instanceof WC_Order ) {
		return 'order:' . $a->get_status();
	}
	if ( is_array( $a ) ) {
		return isset( $a['from'], $a['to'] ) ? 'transition:' . $a['from'] . '>' . $a['to'] : 'array';
	}
	return is_object( $a ) ? 'object:' . get_class( $a ) : gettype( $a );
}

add_action(
	'all',
	static function ( $hook, ...$args ) {
		global $wp_actions, $wp_current_filter;
		$rs = &$GLOBALS['wcbridge_rs'];
		if ( ! $rs['on'] || 0 !== strpos( (string) $hook, 'woocommerce_' ) ) {
			return;
		}
		// An action increments its count before "all" runs; a filter does not.
		$count = (int) ( $wp_actions[ $hook ] ?? 0 );
		$seen  = (int) ( $rs['seen'][ $hook ] ?? 0 );
		if ( $count <= $seen ) {
			return;
		}
		$rs['seen'][ $hook ] = $count;
		wcbridge_rs_append(
			'hooks.jsonl',
			array(
				'label' => $rs['label'],
				'hook'  => (string) $hook,
				'depth' => count( (array) $wp_current_filter ) - $rs['base'],
				'args'  => array_map( 'wcbridge_rs_arg', $args ),
				't'     => round( microtime( true ), 4 ),
			)
		);
	},
	-1000000,
	99
);

// A notification from the sidecar: record while the plugin handles it.
add_filter(
	'rest_pre_dispatch',
	static function ( $result, $server, $request ) {
		if ( '/wcbridge/v1/notify' === $request->get_route() ) {
			$event = json_decode( (string) $request->get_body(), true );
			global $wp_current_filter;
			wcbridge_rs_start( is_array( $event ) ? (string) ( $event['event_id'] ?? '' ) : '', count( (array) $wp_current_filter ) - 1 );
		}
		return $result;
	},
	10,
	3
);
add_filter(
	'rest_post_dispatch',
	static function ( $response ) {
		wcbridge_rs_stop();
		return $response;
	}
);

// How WordPress, through php-fpm (and the persistent object cache when there
// is one), sees an order and the order counts: the test compares it with
// what is in the database.
add_action(
	'rest_api_init',
	static function () {
		// The command line does not share php-fpm's APCu: after WordPress is
		// installed and set up from it, php-fpm's cache is emptied once (what
		// a shop's WP-CLI does through the shared Redis or Memcached).
		register_rest_route(
			'wcbridge-rs/v1',
			'/flush',
			array(
				'methods'             => 'POST',
				'permission_callback' => '__return_true',
				'callback'            => static function () {
					return array( 'flushed' => wp_cache_flush() );
				},
			)
		);
		// WooCommerce's own code on an order, in php-fpm (with the shop's
		// caches), its actions recorded: the twin the plugin is compared with.
		register_rest_route(
			'wcbridge-rs/v1',
			'/woocommerce-path',
			array(
				'methods'             => 'POST',
				'permission_callback' => '__return_true',
				'callback'            => static function ( $request ) {
					global $wp_current_filter;
					$p     = (array) $request->get_json_params();
					$order = wc_get_order( (int) ( $p['order_id'] ?? 0 ) );
					if ( ! $order ) {
						return new WP_Error( 'not_found', 'no order', array( 'status' => 404 ) );
					}
					wcbridge_rs_start( (string) ( $p['label'] ?? '' ), count( (array) $wp_current_filter ) );
					if ( 'payment_complete' === ( $p['what'] ?? '' ) ) {
						$order->payment_complete( (string) ( $p['arg'] ?? '' ) );
					} elseif ( 'update_status' === ( $p['what'] ?? '' ) ) {
						$order->update_status( (string) ( $p['arg'] ?? '' ), (string) ( $p['note'] ?? '' ), ! empty( $p['manual'] ) );
					}
					wcbridge_rs_stop();
					return array( 'status' => wc_get_order( $order->get_id() )->get_status() );
				},
			)
		);
		// WooCommerce's unpaid-order job against an order last changed two
		// hours ago whose crypto payment is live, beside a control order
		// whose hold has run out: would the job cancel them? With 10.0's rule
		// (classic checkout orders), with 10.6's (Store API orders too), and
		// by running the job the way 10.1 runs it, as an Action Scheduler
		// action. The control proves the job really ran and cancels.
		register_rest_route(
			'wcbridge-rs/v1',
			'/unpaid-job',
			array(
				'methods'             => 'POST',
				'permission_callback' => '__return_true',
				'callback'            => static function ( $request ) {
					global $wpdb;
					$p       = (array) $request->get_json_params();
					$order   = wc_get_order( (int) ( $p['order_id'] ?? 0 ) );
					$control = wc_get_order( (int) ( $p['control_id'] ?? 0 ) );
					if ( ! $order || ! $control ) {
						return new WP_Error( 'not_found', 'no order', array( 'status' => 404 ) );
					}
					// The control's payment expired long ago: its hold is over.
					$control->update_meta_data( '_wcbridge_hold_until', gmdate( 'Y-m-d\TH:i:s\Z', time() - 60 ) );
					$control->save();
					$rule_10_0 = static fn( $o ) => 'checkout' === $o->get_created_via();
					$rule_10_6 = static fn( $o ) => in_array( $o->get_created_via(), array( 'checkout', 'store-api' ), true );
					$out       = array( 'created_via' => $order->get_created_via() );
					foreach ( array( '' => $order, 'control_' => $control ) as $prefix => $o ) {
						$out[ $prefix . 'wc_10_0' ] = (bool) apply_filters( 'woocommerce_cancel_unpaid_order', $rule_10_0( $o ), $o );
						$out[ $prefix . 'wc_10_6' ] = (bool) apply_filters( 'woocommerce_cancel_unpaid_order', $rule_10_6( $o ), $o );
					}
					$old = gmdate( 'Y-m-d H:i:s', time() - 7200 );
					foreach ( array( $order, $control ) as $o ) {
						$wpdb->query( $wpdb->prepare( "UPDATE {$wpdb->prefix}wc_orders SET date_updated_gmt = %s WHERE id = %d", $old, $o->get_id() ) );
						$wpdb->query( $wpdb->prepare( "UPDATE {$wpdb->posts} SET post_modified = %s, post_modified_gmt = %s WHERE ID = %d AND post_type = 'shop_order'", get_date_from_gmt( $old ), $old, $o->get_id() ) );
						WCBridge\Finisher::clear_order_caches( $o->get_id() );
					}
					// As 10.6 decides: Store API orders count as checkout orders.
					add_filter(
						'woocommerce_cancel_unpaid_order',
						static function ( $cancel, $o ) {
							return $cancel || ( is_object( $o ) && 'store-api' === $o->get_created_via() );
						},
						1,
						2
					);
					// As 10.1 runs it: an Action Scheduler action, processed by its runner.
					$action           = as_schedule_single_action( time() - 1, 'woocommerce_cancel_unpaid_orders', array(), 'wcbridge-realstore' );
					ActionScheduler::runner()->process_action( $action, 'wcbridge-realstore' );
					$out['action']    = ActionScheduler::store()->get_status( (string) $action );
					foreach ( array( '' => $order, 'control_' => $control ) as $prefix => $o ) {
						WCBridge\Finisher::clear_order_caches( $o->get_id() );
						$out[ $prefix . 'after_job' ] = wc_get_order( $o->get_id() )->get_status();
					}
					return $out;
				},
			)
		);
		register_rest_route(
			'wcbridge-rs/v1',
			'/order/(?P<id>\d+)',
			array(
				'methods'             => 'GET',
				'permission_callback' => '__return_true',
				'callback'            => static function ( $request ) {
					$order  = wc_get_order( (int) $request['id'] );
					$counts = array();
					foreach ( array( 'pending', 'processing', 'on-hold', 'cancelled', 'completed' ) as $st ) {
						$counts[ 'wc-' . $st ] = (int) wc_orders_count( $st );
					}
					return array(
						'status' => $order ? $order->get_status() : null,
						'counts' => $counts,
						'cache'  => wp_using_ext_object_cache() ? 'persistent' : 'none',
					);
				},
			)
		);
	}
);
