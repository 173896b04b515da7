<?php
/**
 * Wiring: checks requirements and hooks the plugin's parts into WordPress.
 *
 * @package WCBridge
 */

declare(strict_types=1);

namespace WCBridge;

defined( 'ABSPATH' ) || exit;

/**
 * Plugin boots the plugin once WooCommerce has had a chance to load.
 */
final class Plugin {

	public const LOG_SOURCE = 'wcbridge';

	/**
	 * Boot registers everything, or only an admin notice when WooCommerce is
	 * missing or too old.
	 */
	public static function boot(): void {
		add_action( 'init', array( self::class, 'load_textdomain' ) );

		if ( null !== self::requirement_problem() ) {
			add_action( 'admin_notices', array( self::class, 'requirement_notice' ) );
			return;
		}

		require_once WCBRIDGE_PLUGIN_DIR . 'includes/class-gateway.php';
		require_once WCBRIDGE_PLUGIN_DIR . 'includes/class-finisher.php';
		require_once WCBRIDGE_PLUGIN_DIR . 'includes/class-emails.php';
		require_once WCBRIDGE_PLUGIN_DIR . 'includes/class-notify-endpoint.php';
		require_once WCBRIDGE_PLUGIN_DIR . 'includes/class-order-pages.php';

		add_filter( 'woocommerce_payment_gateways', array( self::class, 'add_gateways' ) );
		add_action( 'woocommerce_blocks_payment_method_type_registration', array( self::class, 'register_blocks' ) );
		add_filter( 'woocommerce_cancel_unpaid_order', array( self::class, 'keep_unpaid_order' ), 10, 2 );
		add_action( 'woocommerce_order_status_changed', array( self::class, 'order_left_wcbridge' ), 20, 4 );
		add_action( 'rest_api_init', array( Notify_Endpoint::class, 'register' ) );
		Order_Pages::hook();
		Emails::hook();

		foreach ( Settings::GATEWAYS as $gateway ) {
			add_action( 'update_option_woocommerce_wcbridge_' . $gateway . '_settings', array( self::class, 'push_enabled_switch' ), 10, 2 );
		}

		if ( is_admin() ) {
			require_once WCBRIDGE_PLUGIN_DIR . 'includes/class-admin-settings.php';
			require_once WCBRIDGE_PLUGIN_DIR . 'includes/class-order-admin.php';
			Admin_Settings::hook();
			Order_Admin::hook();
		}
	}

	/**
	 * Load_textdomain loads the translations (at init: WordPress 6.7+ warns earlier).
	 */
	public static function load_textdomain(): void {
		load_plugin_textdomain( 'wcbridge', false, dirname( plugin_basename( WCBRIDGE_PLUGIN_FILE ) ) . '/languages' );
	}

	/**
	 * Requirement_notice explains, instead of a fatal error, why the payment methods are off.
	 */
	public static function requirement_notice(): void {
		$problem = self::requirement_problem();
		if ( null !== $problem && ( current_user_can( 'activate_plugins' ) || current_user_can( 'manage_woocommerce' ) ) ) {
			echo '<div class="notice notice-error"><p>' . esc_html( $problem ) . '</p></div>';
		}
	}

	/**
	 * Requirement_problem says why the plugin cannot run, or null.
	 */
	public static function requirement_problem(): ?string {
		if ( ! class_exists( 'WooCommerce' ) || ! defined( 'WC_VERSION' ) ) {
			return __( 'wcbridge crypto payments: WooCommerce is required. Install and activate WooCommerce 8.2 or newer; the crypto payment methods stay off until then.', 'wcbridge' );
		}
		if ( version_compare( (string) constant( 'WC_VERSION' ), WCBRIDGE_MIN_WC_VERSION, '<' ) ) {
			return sprintf(
				/* translators: 1: required WooCommerce version, 2: installed version */
				__( 'wcbridge crypto payments: WooCommerce %1$s or newer is required (this site runs %2$s). The crypto payment methods stay off until WooCommerce is updated.', 'wcbridge' ),
				WCBRIDGE_MIN_WC_VERSION,
				(string) constant( 'WC_VERSION' )
			);
		}
		return null;
	}

	/**
	 * Add_gateways registers the three payment methods.
	 *
	 * @param array $gateways Gateway class names or instances.
	 * @return array
	 */
	public static function add_gateways( $gateways ) {
		$gateways[] = Gateway_StreamPay::class;
		$gateways[] = Gateway_CryptoCloud::class;
		$gateways[] = Gateway_Bitstream::class;
		return $gateways;
	}

	/**
	 * Register_blocks adds the block checkout integrations.
	 *
	 * @param object $registry Automattic\WooCommerce\Blocks\Payments\PaymentMethodRegistry.
	 */
	public static function register_blocks( $registry ): void {
		if ( ! class_exists( \Automattic\WooCommerce\Blocks\Payments\Integrations\AbstractPaymentMethodType::class ) ) {
			return;
		}
		require_once WCBRIDGE_PLUGIN_DIR . 'includes/class-blocks-method.php';
		foreach ( Settings::GATEWAYS as $gateway ) {
			$registry->register( new Blocks_Method( $gateway ) );
		}
	}

	/**
	 * Keep_unpaid_order stops WooCommerce's hold-stock timer from cancelling an
	 * order whose crypto payment may still arrive. No HTTP call: it reads the
	 * meta the checkout and the sidecar keep current.
	 *
	 * @param bool  $cancel Whether WooCommerce would cancel the order.
	 * @param mixed $order  The order.
	 */
	public static function keep_unpaid_order( $cancel, $order ) {
		if ( ! $cancel || ! is_object( $order ) || ! method_exists( $order, 'get_meta' ) ) {
			return $cancel;
		}
		if ( 'underpaid' === self::payment_meta( $order )['status'] ) {
			return false;
		}
		$until = (string) $order->get_meta( '_wcbridge_hold_until', true );
		if ( '' !== $until ) {
			$ts = strtotime( $until );
			if ( false !== $ts && $ts > time() ) {
				return false;
			}
		}
		return $cancel;
	}

	/**
	 * Payment_meta reads the payment's figures at the last outcome the sidecar
	 * applied to the order: the JSON object in the meta _wcbridge_payment, e.g.
	 * {"status":"underpaid","amount":"25","currency":"EUR","received":"19.99"}.
	 * An order written before that key has one meta key per figure instead
	 * (_wcbridge_payment_status, _wcbridge_amount, _wcbridge_currency,
	 * _wcbridge_received, _wcbridge_tx_ref), read when _wcbridge_payment is
	 * absent. A value that is not such an object (invalid JSON, no status)
	 * counts as absent.
	 *
	 * @param mixed $order The order (anything with get_meta()).
	 * @return array{status:string,amount:string,currency:string,received:string,tx_ref:string} "" for what is unknown.
	 */
	public static function payment_meta( $order ): array {
		$old = array(
			'status'   => '_wcbridge_payment_status',
			'amount'   => '_wcbridge_amount',
			'currency' => '_wcbridge_currency',
			'received' => '_wcbridge_received',
			'tx_ref'   => '_wcbridge_tx_ref',
		);
		$raw  = $order->get_meta( '_wcbridge_payment', true );
		$json = is_string( $raw ) && '' !== $raw ? json_decode( $raw, false, 2 ) : null;
		$out  = array();
		if ( is_object( $json ) && isset( $json->status ) && is_string( $json->status ) && '' !== $json->status ) {
			foreach ( array_keys( $old ) as $field ) {
				$out[ $field ] = isset( $json->$field ) && is_string( $json->$field ) ? $json->$field : '';
			}
			return $out;
		}
		foreach ( $old as $field => $key ) {
			$v             = $order->get_meta( $key, true );
			$out[ $field ] = is_scalar( $v ) ? (string) $v : '';
		}
		return $out;
	}

	/**
	 * Order_left_wcbridge tells the sidecar when an order with a crypto
	 * payment will not be paid through wcbridge any more: cancelled in
	 * WordPress, or moved to another payment method. The sidecar cancels its
	 * payments where the gateway allows it, so they cannot be paid twice.
	 * Changes the plugin itself is finishing for the sidecar are skipped: the
	 * sidecar made them.
	 *
	 * @param int    $order_id Order id.
	 * @param string $from     Status before.
	 * @param string $to       Status after.
	 * @param mixed  $order    The order.
	 */
	public static function order_left_wcbridge( $order_id, $from, $to, $order = null ): void {
		if ( null !== Finisher::$current || ! is_object( $order ) || ! method_exists( $order, 'get_meta' ) ) {
			return;
		}
		if ( '' === (string) $order->get_meta( '_wcbridge_payment_ref', true ) ) {
			return; // No crypto payment was ever started for it.
		}
		$method   = (string) $order->get_payment_method();
		$switched = 0 !== strpos( $method, 'wcbridge_' );
		if ( 'cancelled' !== $to && ! $switched ) {
			return;
		}
		$result = Client::from_settings( 5 )->cancel_payments( (int) $order_id );
		if ( is_wp_error( $result ) ) {
			self::log( 'warning', sprintf( 'order %d is %s: could not ask the sidecar to cancel its crypto payments: %s %s', (int) $order_id, $switched ? 'paid with ' . $method : 'cancelled', $result->get_error_code(), $result->get_error_message() ), array( 'order_id' => (int) $order_id ) );
		}
	}

	/**
	 * Push_enabled_switch tells the sidecar when a payment method is switched
	 * on or off from WooCommerce's own payments screen.
	 *
	 * @param mixed $old_value Previous option value.
	 * @param mixed $value     New option value.
	 */
	public static function push_enabled_switch( $old_value, $value ): void {
		if ( Admin_Settings_State::$saving ) {
			return; // The settings tab pushes everything at once.
		}
		$old = is_array( $old_value ) ? ( $old_value['enabled'] ?? 'no' ) : 'no';
		$new = is_array( $value ) ? ( $value['enabled'] ?? 'no' ) : 'no';
		if ( $old === $new ) {
			return;
		}
		$filter  = current_filter();
		$gateway = (string) preg_replace( '/^update_option_woocommerce_wcbridge_|_settings$/', '', $filter );
		if ( ! in_array( $gateway, Settings::GATEWAYS, true ) ) {
			return;
		}
		$result = Client::from_settings( 5 )->put_settings( array( Settings::enabled_key( $gateway ) => 'yes' === $new ? 'true' : 'false' ) );
		if ( is_wp_error( $result ) ) {
			self::log( 'warning', 'could not push the enabled switch of ' . $gateway . ': ' . $result->get_error_code() . ' ' . $result->get_error_message() );
		}
	}

	/**
	 * Price shows an amount from the sidecar (a decimal string) in the shop's
	 * price format: currency symbol, separators and position as WooCommerce
	 * shows prices. It keeps every significant decimal the sidecar sent, so a
	 * shortfall of 0.004 does not read as 0.00; anything not a number is shown
	 * as text, escaped.
	 *
	 * @param string $amount   Decimal amount, e.g. "12.5".
	 * @param string $currency ISO code of the amount, e.g. "USD".
	 * @return string HTML.
	 */
	public static function price( string $amount, string $currency ): string {
		$amount = trim( $amount );
		if ( ! preg_match( '/^-?\d+(\.\d+)?$/', $amount ) ) {
			return esc_html( trim( $amount . ' ' . $currency ) );
		}
		$fraction = strpos( $amount, '.' ) === false ? '' : rtrim( substr( $amount, strpos( $amount, '.' ) + 1 ), '0' );
		$decimals = max( (int) wc_get_price_decimals(), strlen( $fraction ) );
		return wc_price(
			$amount,
			array(
				'currency' => $currency,
				'decimals' => $decimals,
			)
		);
	}

	/**
	 * Datetime shows a time from the sidecar (RFC 3339, UTC) in the site's
	 * date and time format and timezone (Settings → General).
	 *
	 * @param string $rfc3339 Time, e.g. "2026-05-01T10:00:00Z".
	 */
	public static function datetime( string $rfc3339 ): string {
		$ts = strtotime( $rfc3339 );
		if ( false === $ts || '' === trim( $rfc3339 ) ) {
			return $rfc3339;
		}
		return (string) wp_date( get_option( 'date_format', 'F j, Y' ) . ' ' . get_option( 'time_format', 'g:i a' ), $ts );
	}

	/**
	 * Log writes one line to WooCommerce's logger under the fixed source.
	 *
	 * @param string $level   PSR-3 level.
	 * @param string $message Message without secrets.
	 * @param array  $context Extra context.
	 */
	public static function log( string $level, string $message, array $context = array() ): void {
		if ( ! function_exists( 'wc_get_logger' ) ) {
			return;
		}
		wc_get_logger()->log( $level, $message, array_merge( $context, array( 'source' => self::LOG_SOURCE ) ) );
	}
}

/**
 * Admin_Settings_State marks a running settings-tab save.
 */
final class Admin_Settings_State {
	/**
	 * True while the settings tab saves (and pushes) everything.
	 *
	 * @var bool
	 */
	public static $saving = false;
}
