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
