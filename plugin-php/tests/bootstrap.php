<?php
/**
 * Hand-written stubs of the WordPress and WooCommerce API the plugin uses,
 * just enough to run it without WordPress.
 *
 * @package WCBridge
 */

declare(strict_types=1);

define( 'ABSPATH', __DIR__ . '/' );
define( 'MINUTE_IN_SECONDS', 60 );
define( 'WC_VERSION', '10.0.2' );

/** Resets every stub's state between tests. */
function wcb_reset(): void {
	$GLOBALS['wcb'] = array(
		'options'    => array(),
		'transients' => array(),
		'filters'    => array(),
		'did'        => array(),
		'notices'    => array(),
		'logs'       => array(),
		'calls'      => array(),
		'emails'     => array(),
		'orders'     => array(),
		'cart_empty' => 0,
		'http'       => null,
		'user_can'   => true,
		'current_filter' => '',
		'json'       => null,
		'attention'  => array(),
		'save_throws' => false,
	);
}
wcb_reset();

// --- WordPress: hooks -------------------------------------------------------
function add_filter( $hook, $cb, $prio = 10, $args = 1 ) {
	$GLOBALS['wcb']['filters'][ $hook ][] = array( $cb, $args );
	return true;
}
function add_action( $hook, $cb, $prio = 10, $args = 1 ) {
	return add_filter( $hook, $cb, $prio, $args );
}
function apply_filters( $hook, $value, ...$args ) {
	foreach ( $GLOBALS['wcb']['filters'][ $hook ] ?? array() as $f ) {
		$value = call_user_func_array( $f[0], array_slice( array_merge( array( $value ), $args ), 0, $f[1] ) );
	}
	return $value;
}
function do_action( $hook, ...$args ) {
	$GLOBALS['wcb']['did'][] = array_merge( array( $hook ), $args );
	$prev = $GLOBALS['wcb']['current_filter'];
	$GLOBALS['wcb']['current_filter'] = $hook;
	foreach ( $GLOBALS['wcb']['filters'][ $hook ] ?? array() as $f ) {
		call_user_func_array( $f[0], array_slice( $args, 0, $f[1] ) );
	}
	$GLOBALS['wcb']['current_filter'] = $prev;
}
function current_filter() {
	return $GLOBALS['wcb']['current_filter'];
}

// --- WordPress: options, transients, caches ---------------------------------
function get_option( $name, $default = false ) {
	return array_key_exists( $name, $GLOBALS['wcb']['options'] ) ? $GLOBALS['wcb']['options'][ $name ] : $default;
}
function update_option( $name, $value, $autoload = null ) {
	$old = get_option( $name );
	$GLOBALS['wcb']['options'][ $name ] = $value;
	$GLOBALS['wcb']['current_filter'] = 'update_option_' . $name;
	foreach ( $GLOBALS['wcb']['filters'][ 'update_option_' . $name ] ?? array() as $f ) {
		call_user_func_array( $f[0], array_slice( array( $old, $value, $name ), 0, $f[1] ) );
	}
	$GLOBALS['wcb']['current_filter'] = '';
	return true;
}
function delete_option( $name ) {
	unset( $GLOBALS['wcb']['options'][ $name ] );
	return true;
}
function get_transient( $name ) {
	return $GLOBALS['wcb']['transients'][ $name ] ?? false;
}
function set_transient( $name, $value, $ttl = 0 ) {
	$GLOBALS['wcb']['transients'][ $name ] = $value;
	return true;
}
function delete_transient( $name ) {
	unset( $GLOBALS['wcb']['transients'][ $name ] );
	return true;
}
function clean_post_cache( $id ) {
	$GLOBALS['wcb']['calls'][] = array( 'clean_post_cache', $id );
}
function wp_cache_delete( $key, $group = '' ) {
	$GLOBALS['wcb']['calls'][] = array( 'wp_cache_delete', $key, $group );
	return true;
}

// --- WordPress: formatting, escaping, i18n ---------------------------------
function __( $s, $d = 'default' ) {
	return $s;
}
function esc_html__( $s, $d = 'default' ) {
	return esc_html( $s );
}
function esc_html( $s ) {
	return htmlspecialchars( (string) $s, ENT_QUOTES, 'UTF-8' );
}
function esc_attr( $s ) {
	return esc_html( $s );
}
function esc_textarea( $s ) {
	return esc_html( $s );
}
function esc_url( $s ) {
	return esc_html( $s );
}
function esc_url_raw( $s, $protocols = null ) {
	return preg_match( '#^https?://#', (string) $s ) ? (string) $s : '';
}
function wp_kses_post( $s ) {
	return preg_replace( '#<script.*?</script>#is', '', (string) $s );
}
function wp_date( $format, $timestamp = null, $timezone = null ) {
	$tz = new DateTimeZone( (string) ( get_option( 'timezone_string' ) ?: 'UTC' ) );
	return ( new DateTimeImmutable( '@' . ( $timestamp ?? time() ) ) )->setTimezone( $tz )->format( $format );
}
function sanitize_text_field( $s ) {
	return trim( strip_tags( (string) $s ) );
}
function sanitize_textarea_field( $s ) {
	return trim( strip_tags( (string) $s ) );
}
function absint( $n ) {
	return abs( (int) $n );
}
function wp_unslash( $v ) {
	return $v;
}
function untrailingslashit( $s ) {
	return rtrim( (string) $s, '/\\' );
}
function wp_json_encode( $v ) {
	return json_encode( $v );
}
function wp_parse_url( $url, $component = -1 ) {
	return parse_url( $url, $component );
}
function checked( $a, $b = true, $echo = true ) {
	return (string) $a === (string) $b ? ' checked=\'checked\'' : '';
}
function selected( $a, $b = true, $echo = true ) {
	return (string) $a === (string) $b ? ' selected=\'selected\'' : '';
}
function add_query_arg( $args, $url ) {
	return $url . ( false === strpos( $url, '?' ) ? '?' : '&' ) . http_build_query( $args );
}
function admin_url( $p = '' ) {
	return 'https://shop.example/wp-admin/' . $p;
}
function rest_url( $p = '' ) {
	return 'https://shop.example/wp-json/' . $p;
}
function plugin_dir_path( $f ) {
	return dirname( $f ) . '/';
}
function plugin_dir_url( $f ) {
	return 'https://shop.example/wp-content/plugins/wcbridge/';
}
function plugin_basename( $f ) {
	return 'wcbridge/wcbridge.php';
}
function load_plugin_textdomain( ...$a ) {
	return true;
}
function is_admin() {
	return true;
}
function current_user_can( $cap ) {
	return $GLOBALS['wcb']['user_can'];
}
function wp_enqueue_script( ...$a ) {}
function wp_register_script( ...$a ) {}
function wp_localize_script( ...$a ) {}
function wp_create_nonce( $a ) {
	return 'nonce';
}
function check_admin_referer( ...$a ) {
	return 1;
}
function check_ajax_referer( ...$a ) {
	return 1;
}
function wp_send_json_success( $data = null, $status = null ) {
	$GLOBALS['wcb']['json'] = array( 'success' => true, 'data' => $data );
}
function wp_send_json_error( $data = null, $status = null ) {
	$GLOBALS['wcb']['json'] = array( 'success' => false, 'data' => $data, 'status' => $status );
}
function register_rest_route( ...$a ) {
	return true;
}

// --- WordPress: errors and HTTP ---------------------------------------------
class WP_Error {
	private $code;
	private $message;
	private $data;
	public function __construct( $code = '', $message = '', $data = '' ) {
		$this->code    = $code;
		$this->message = $message;
		$this->data    = $data;
	}
	public function get_error_code() {
		return $this->code;
	}
	public function get_error_message() {
		return $this->message;
	}
	public function get_error_data() {
		return $this->data;
	}
}
function is_wp_error( $v ) {
	return $v instanceof WP_Error;
}

/**
 * Wp_remote_request does a real HTTP round-trip with PHP's stream wrapper,
 * or answers from $GLOBALS['wcb']['http'] when a test sets a callable.
 */
function wp_remote_request( $url, $args = array() ) {
	if ( is_callable( $GLOBALS['wcb']['http'] ) ) {
		return call_user_func( $GLOBALS['wcb']['http'], $url, $args );
	}
	$headers = '';
	foreach ( $args['headers'] ?? array() as $k => $v ) {
		$headers .= $k . ': ' . $v . "\r\n";
	}
	$ctx  = stream_context_create(
		array(
			'http' => array(
				'method'          => $args['method'] ?? 'GET',
				'header'          => $headers,
				'content'         => $args['body'] ?? '',
				'timeout'         => $args['timeout'] ?? 5,
				'ignore_errors'   => true,
				'follow_location' => 0,
			),
		)
	);
	$body = @file_get_contents( $url, false, $ctx ); // phpcs:ignore
	if ( false === $body ) {
		return new WP_Error( 'http_request_failed', 'cURL error 7: Failed to connect' );
	}
	$code = 0;
	foreach ( $http_response_header ?? array() as $h ) {
		if ( preg_match( '#^HTTP/\S+ (\d+)#', $h, $m ) ) {
			$code = (int) $m[1];
		}
	}
	return array( 'response' => array( 'code' => $code ), 'body' => $body );
}
function wp_remote_retrieve_response_code( $r ) {
	return $r['response']['code'] ?? '';
}
function wp_remote_retrieve_body( $r ) {
	return $r['body'] ?? '';
}

class WP_REST_Request {
	public $method  = 'POST';
	public $headers = array();
	public $body    = '';
	public function __construct( $method = 'POST', $headers = array(), $body = '' ) {
		$this->method = $method;
		foreach ( $headers as $k => $v ) {
			$this->headers[ strtolower( str_replace( '-', '_', $k ) ) ] = $v;
		}
		$this->body = $body;
	}
	public function get_header( $key ) {
		return $this->headers[ strtolower( str_replace( '-', '_', $key ) ) ] ?? null;
	}
	public function get_method() {
		return $this->method;
	}
	public function get_body() {
		return $this->body;
	}
}
class WP_REST_Response {
	public $data;
	public $status;
	public function __construct( $data = null, $status = 200 ) {
		$this->data   = $data;
		$this->status = $status;
	}
}

// --- WooCommerce ------------------------------------------------------------
class WooCommerce {}

/** Fake order backed by $GLOBALS['wcb']['orders'] (the "database"). */
class WC_Order {
	public $id;
	public $data;
	public function __construct( $id ) {
		wcb_orders_from_file();
		$this->id   = $id;
		$this->data = $GLOBALS['wcb']['orders'][ $id ];
	}
	public function get_id() {
		return $this->id;
	}
	public function get_order_key() {
		return $this->data['key'];
	}
	public function get_status() {
		return $this->data['status'];
	}
	public function has_status( $s ) {
		return in_array( $this->data['status'], (array) $s, true );
	}
	public function get_payment_method() {
		return $this->data['payment_method'];
	}
	public function needs_payment() {
		return $this->has_status( array( 'pending', 'failed' ) );
	}
	public function get_transaction_id() {
		return $this->data['transaction_id'] ?? '';
	}
	public function get_checkout_payment_url() {
		return 'https://shop.example/checkout/order-pay/' . $this->id . '/?pay_for_order=true&key=' . $this->data['key'];
	}
	public function get_checkout_order_received_url() {
		return 'https://shop.example/checkout/order-received/' . $this->id . '/?key=' . $this->data['key'];
	}
	public function get_meta( $key, $single = true ) {
		if ( ! $single ) {
			$values = $this->data['multi'][ $key ] ?? ( isset( $this->data['meta'][ $key ] ) ? array( $this->data['meta'][ $key ] ) : array() );
			return array_map(
				static function ( $v ) {
					return (object) array( 'value' => $v );
				},
				$values
			);
		}
		return $this->data['meta'][ $key ] ?? '';
	}
	public function get_type() {
		return 'shop_order';
	}
	public function needs_processing() {
		return $this->data['needs_processing'] ?? true;
	}
	public function get_order_number() {
		return (string) $this->id;
	}
	public function get_date_created() {
		return null;
	}
	public function get_edit_order_url() {
		return 'https://shop.example/wp-admin/admin.php?page=wc-orders&action=edit&id=' . $this->id;
	}
	public function update_meta_data( $key, $value ) {
		$this->data['meta'][ $key ] = $value;
	}
	public function add_order_note( $note ) {
		$this->data['notes'][] = $note;
		$GLOBALS['wcb']['orders'][ $this->id ]['notes'][] = $note;
	}
	public function save() {
		// Where WooCommerce's save would fire its own hooks, the tests see one marker.
		$GLOBALS['wcb']['did'][] = array( 'SAVE', $this->id );
		if ( ! empty( $GLOBALS['wcb']['save_throws'] ) ) {
			throw new RuntimeException( 'database gone' );
		}
		wcb_orders_from_file();
		$GLOBALS['wcb']['orders'][ $this->id ]['meta'] = $this->data['meta'];
		wcb_orders_to_file();
		$GLOBALS['wcb']['orders'][ $this->id ]['saves'] = ( $GLOBALS['wcb']['orders'][ $this->id ]['saves'] ?? 0 ) + 1;
		return $this->id;
	}
}
function wcb_add_order( $id, array $data = array() ) {
	$GLOBALS['wcb']['orders'][ $id ] = array_merge(
		array(
			'key'            => 'wc_order_Ab3dE6gH9jK2m',
			'status'         => 'pending',
			'payment_method' => 'wcbridge_streampay',
			'meta'           => array(),
			'notes'          => array(),
		),
		$data
	);
}
/** With WCB_ORDERS_FILE set, orders live in a JSON file shared by processes. */
function wcb_orders_from_file(): void {
	$file = getenv( 'WCB_ORDERS_FILE' );
	if ( $file ) {
		$GLOBALS['wcb']['orders'] = json_decode( (string) file_get_contents( $file ), true );
	}
}
function wcb_orders_to_file(): void {
	$file = getenv( 'WCB_ORDERS_FILE' );
	if ( $file ) {
		file_put_contents( $file, json_encode( $GLOBALS['wcb']['orders'] ), LOCK_EX );
	}
}
function wc_get_is_paid_statuses() {
	return array( 'processing', 'completed' );
}
function wc_get_order_status_name( $s ) {
	$names = array( 'pending' => 'Pending payment', 'processing' => 'Processing', 'on-hold' => 'On hold', 'completed' => 'Completed', 'cancelled' => 'Cancelled', 'failed' => 'Failed' );
	return $names[ $s ] ?? $s;
}
function wp_strip_all_tags( $s ) {
	return trim( strip_tags( (string) $s ) );
}
class WC_Cache_Helper {
	public static function invalidate_cache_group( $group ) {
		$GLOBALS['wcb']['calls'][] = array( 'invalidate_cache_group', $group );
	}
}
function wc_get_order( $id ) {
	wcb_orders_from_file();
	return isset( $GLOBALS['wcb']['orders'][ $id ] ) ? new WC_Order( $id ) : false;
}

class WC_Payment_Gateway {
	public $id;
	public $title;
	public $description;
	public $enabled;
	public $icon;
	public $has_fields;
	public $supports = array();
	public $method_title;
	public $method_description;
	public $form_fields = array();
	public $settings    = array();
	public function init_settings() {
		$saved          = get_option( 'woocommerce_' . $this->id . '_settings', array() );
		$defaults       = array();
		foreach ( $this->form_fields as $k => $f ) {
			$defaults[ $k ] = $f['default'] ?? '';
		}
		$this->settings = array_merge( $defaults, is_array( $saved ) ? $saved : array() );
	}
	public function get_option( $key, $empty = null ) {
		return $this->settings[ $key ] ?? $empty;
	}
	public function get_return_url( $order ) {
		return $order->get_checkout_order_received_url();
	}
	public function admin_options() {}
	public function process_admin_options() {}
	public function is_available() {
		return 'yes' === $this->enabled;
	}
	public function needs_setup() {
		return false;
	}
}

class WC_Admin_Settings {
	public static $errors   = array();
	public static $messages = array();
	public static function add_error( $m ) {
		self::$errors[] = $m;
	}
	public static function add_message( $m ) {
		self::$messages[] = $m;
	}
}

class WCB_Logger {
	public function log( $level, $message, $context = array() ) {
		$GLOBALS['wcb']['logs'][] = array( $level, $message, $context );
	}
}
function wc_get_logger() {
	return new WCB_Logger();
}
function wc_add_notice( $message, $type = 'success' ) {
	$GLOBALS['wcb']['notices'][] = array( $type, $message );
}

class WCB_Cart {
	public function empty_cart() {
		++$GLOBALS['wcb']['cart_empty'];
	}
}
class WCB_Email {
	public $class;
	public function __construct( $class ) {
		$this->class = $class;
	}
	public function trigger( $order_id, $order = false ) {
		$GLOBALS['wcb']['emails'][] = array( $this->class, $order_id, $order ? $order->get_status() : null );
	}
}
class WCB_Mailer {
	public function get_emails() {
		$out = array();
		foreach ( array( 'WC_Email_New_Order', 'WC_Email_Customer_Processing_Order', 'WC_Email_Customer_Completed_Order', 'WC_Email_Customer_On_Hold_Order', 'WC_Email_Cancelled_Order', 'WC_Email_Failed_Order' ) as $c ) {
			$out[ $c ] = new WCB_Email( $c );
		}
		$out['WCBridge_Email_Payment_Attention'] = new WCB_Attention_Email();
		return $out;
	}
}
/** Records the shop e-mails the plugin asks WooCommerce's mailer to send. */
class WCB_Attention_Email {
	public function trigger( $order_id, $order = false, $findings = array() ) {
		$GLOBALS['wcb']['attention'][] = array( 'order_id' => $order_id, 'findings' => $findings );
	}
}
class WCB_WC {
	public $cart;
	public function __construct() {
		$this->cart = new WCB_Cart();
	}
	public function mailer() {
		return new WCB_Mailer();
	}
}
function WC() { // phpcs:ignore
	static $wc = null;
	return $wc ?? ( $wc = new WCB_WC() );
}

function wcb_record( $name, ...$args ) {
	$GLOBALS['wcb']['calls'][] = array_merge( array( $name ), $args );
}
function wc_delete_shop_order_transients( $id ) {
	wcb_record( __FUNCTION__, $id );
}
function wc_maybe_reduce_stock_levels( $id ) {
	wcb_record( __FUNCTION__, $id );
}
function wc_maybe_increase_stock_levels( $id ) {
	wcb_record( __FUNCTION__, $id );
}
function wc_release_stock_for_order( $order ) {
	wcb_record( __FUNCTION__, is_object( $order ) ? $order->get_id() : $order );
}
function wc_update_total_sales_counts( $id ) {
	wcb_record( __FUNCTION__, $id );
}
function wc_update_coupon_usage_counts( $id ) {
	wcb_record( __FUNCTION__, $id );
}
function wc_downloadable_product_permissions( $id, $force = false ) {
	wcb_record( __FUNCTION__, $id );
}

/** Names of the WooCommerce functions a test called, in order. */
function wcb_work_calls(): array {
	$out = array();
	foreach ( $GLOBALS['wcb']['calls'] as $c ) {
		if ( ! in_array( $c[0], array( 'clean_post_cache', 'wc_delete_shop_order_transients', 'wp_cache_delete', 'invalidate_cache_group' ), true ) ) {
			$out[] = $c[0];
		}
	}
	return $out;
}

require_once __DIR__ . '/FakeSidecar.php';
require_once dirname( __DIR__ ) . '/wcbridge.php';
require_once dirname( __DIR__ ) . '/includes/class-gateway.php';
require_once dirname( __DIR__ ) . '/includes/class-finisher.php';
require_once dirname( __DIR__ ) . '/includes/class-emails.php';
require_once dirname( __DIR__ ) . '/includes/class-notify-endpoint.php';
require_once dirname( __DIR__ ) . '/includes/class-order-pages.php';
require_once dirname( __DIR__ ) . '/includes/class-admin-settings.php';
require_once dirname( __DIR__ ) . '/includes/class-order-admin.php';

// --- WooCommerce: prices, as wc_price() formats them -------------------------
function wc_get_price_decimals() {
	return (int) get_option( 'woocommerce_price_num_decimals', 2 );
}
function get_woocommerce_currency_symbol( $currency = '' ) {
	return array(
		'EUR' => '&euro;',
		'USD' => '&#36;',
	)[ $currency ] ?? $currency;
}
function wc_price( $price, $args = array() ) {
	$decimals = $args['decimals'] ?? wc_get_price_decimals();
	$number   = number_format( (float) $price, $decimals, (string) get_option( 'woocommerce_price_decimal_sep', '.' ), (string) get_option( 'woocommerce_price_thousand_sep', ',' ) );
	return '<span class="woocommerce-Price-amount amount"><bdi><span class="woocommerce-Price-currencySymbol">' . get_woocommerce_currency_symbol( $args['currency'] ?? '' ) . '</span>' . $number . '</bdi></span>';
}
