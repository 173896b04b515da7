<?php
/**
 * The three WooCommerce payment methods.
 *
 * @package WCBridge
 */

declare(strict_types=1);

namespace WCBridge;

defined( 'ABSPATH' ) || exit;

/**
 * Gateway is one payment method (wcbridge_<gateway>). It holds no payment
 * logic: process_payment() asks the sidecar to start (or resume) a payment
 * and sends the customer where the sidecar says.
 */
abstract class Gateway extends \WC_Payment_Gateway {

	/**
	 * Sidecar gateway name: streampay, cryptocloud or bitstream.
	 *
	 * @var string
	 */
	public $gateway = '';

	/**
	 * Constructor.
	 */
	public function __construct() {
		$this->id                 = 'wcbridge_' . $this->gateway;
		$this->method_title       = sprintf(
			/* translators: %s: gateway name */
			__( '%s (wcbridge)', 'wcbridge' ),
			Settings::gateway_label( $this->gateway )
		);
		// WooCommerce 10's Payments page shows at most 75 characters of the
		// title and 130 of the description, without HTML.
		$this->method_description = sprintf(
			/* translators: %s: gateway name */
			__( '%s crypto payments through the wcbridge sidecar. Set up in WooCommerce → Settings → wcbridge.', 'wcbridge' ),
			Settings::gateway_label( $this->gateway )
		);
		$this->has_fields         = false;
		$this->supports           = array( 'products' );
		$this->icon               = (string) apply_filters( 'wcbridge_gateway_icon', WCBRIDGE_PLUGIN_URL . 'assets/' . $this->gateway . '.svg', $this->id );

		$this->init_form_fields();
		$this->init_settings();

		$this->title       = (string) $this->get_option( 'title' );
		$this->description = (string) $this->get_option( 'description' );
		$this->enabled     = (string) $this->get_option( 'enabled', 'no' );

		add_action( 'woocommerce_update_options_payment_gateways_' . $this->id, array( $this, 'process_admin_options' ) );
	}

	/**
	 * Is_available: offered at checkout only while the method is enabled in
	 * WooCommerce and the sidecar answered recently with the gateway enabled
	 * and configured (a cached check, Settings::health()).
	 */
	public function is_available() {
		return parent::is_available() && Settings::gateway_ready( $this->gateway );
	}

	/**
	 * Needs_setup tells WooCommerce's Payments page that the sidecar
	 * connection or the gateway's credentials are missing.
	 */
	public function needs_setup() {
		if ( ! Client::from_settings()->is_configured() ) {
			return true;
		}
		$health = Settings::health();
		if ( empty( $health['ok'] ) ) {
			return false; // Unknown while the sidecar is down: the admin notice says so.
		}
		return empty( $health['gateways'][ $this->gateway ]['configured'] );
	}

	/**
	 * Get_settings_url sends WooCommerce's Payments page to the settings tab,
	 * where the credentials are.
	 */
	public function get_settings_url() {
		return admin_url( 'admin.php?page=wc-settings&tab=wcbridge' );
	}

	/**
	 * Init_form_fields defines what lives in WordPress only: the switch, title and description.
	 */
	public function init_form_fields() {
		$this->form_fields = array(
			'enabled'     => array(
				'title'   => __( 'Enable/Disable', 'wcbridge' ),
				'type'    => 'checkbox',
				/* translators: %s: gateway name */
				'label'   => sprintf( __( 'Accept payments with %s', 'wcbridge' ), Settings::gateway_label( $this->gateway ) ),
				'default' => 'no',
			),
			'title'       => array(
				'title'       => __( 'Title', 'wcbridge' ),
				'type'        => 'safe_text',
				'description' => __( 'The name customers see at checkout.', 'wcbridge' ),
				'default'     => $this->default_title(),
				'desc_tip'    => true,
			),
			'description' => array(
				'title'       => __( 'Description', 'wcbridge' ),
				'type'        => 'textarea',
				'description' => __( 'Shown below the title at checkout.', 'wcbridge' ),
				'default'     => $this->default_description(),
				'desc_tip'    => true,
			),
		);
	}

	/**
	 * Admin_options adds a link to the settings tab below the standard form.
	 */
	public function admin_options() {
		parent::admin_options();
		printf(
			'<p><a class="button" href="%s">%s</a></p>',
			esc_url( admin_url( 'admin.php?page=wc-settings&tab=wcbridge' ) ),
			esc_html__( 'Credentials and sidecar connection', 'wcbridge' )
		);
	}

	/**
	 * Default_title is the checkout title before the shop owner changes it.
	 */
	abstract protected function default_title(): string;

	/**
	 * Default_description is the checkout description before the shop owner changes it.
	 */
	abstract protected function default_description(): string;

	/**
	 * Process_payment starts or resumes the payment for the order (checkout
	 * POST or order-pay POST only) and sends the customer to the gateway.
	 *
	 * @param int $order_id Order id.
	 * @return array
	 */
	public function process_payment( $order_id ) {
		$order = wc_get_order( $order_id );
		if ( ! $order ) {
			Plugin::log( 'error', 'checkout: order not found', array( 'order_id' => (int) $order_id ) );
			wc_add_notice( self::customer_message( 'not_found' ), 'error' );
			return array( 'result' => 'failure' );
		}

		$request     = array(
			'order_id'   => (int) $order->get_id(),
			'gateway'    => $this->gateway,
			'order_key'  => (string) $order->get_order_key(),
			'return_url' => (string) $this->get_return_url( $order ),
			'cancel_url' => (string) $order->get_checkout_payment_url(),
		);
		$paid_status = self::paid_status( $order );
		if ( '' !== $paid_status ) {
			$request['paid_status'] = $paid_status;
		}
		$answer = Client::from_settings( 10 )->checkout( $request );

		if ( is_wp_error( $answer ) ) {
			$data = $answer->get_error_data();
			Plugin::log(
				'error',
				sprintf(
					'checkout failed for order %d (%s): %s %s',
					(int) $order->get_id(),
					$this->gateway,
					$answer->get_error_code(),
					$answer->get_error_message()
				),
				array(
					'order_id' => (int) $order->get_id(),
					'status'   => is_array( $data ) ? (int) ( $data['status'] ?? 0 ) : 0,
				)
			);
			if ( 'unreachable' === $answer->get_error_code() ) {
				// Customers cannot pay right now: show the shop managers' notice,
				// and stop offering the methods, at once instead of after the
				// cached "sidecar is fine" runs out.
				Settings::remember_health( $answer );
			}
			wc_add_notice( self::customer_message( $answer->get_error_code() ), 'error' );
			return array( 'result' => 'failure' );
		}

		$redirect = isset( $answer['redirect_url'] ) ? (string) $answer['redirect_url'] : '';
		if ( ! preg_match( '#^https?://#i', $redirect ) ) {
			Plugin::log( 'error', sprintf( 'checkout for order %d (%s): the sidecar answered without a usable redirect_url', (int) $order->get_id(), $this->gateway ) );
			wc_add_notice( self::customer_message( 'bad_response' ), 'error' );
			return array( 'result' => 'failure' );
		}

		$payment = isset( $answer['payment'] ) && is_array( $answer['payment'] ) ? $answer['payment'] : array();
		$order->update_meta_data( '_wcbridge_gateway', (string) ( $payment['gateway'] ?? $this->gateway ) );
		// _wcbridge_payment_ref holds the sidecar's payment id (payment.id), not the
		// reference sent to the gateway. _wcbridge_payment_id is the gateway's id: the
		// sidecar owns it and rewrites it with every outcome (docs/plugin-api.md, "Order meta").
		$order->update_meta_data( '_wcbridge_payment_ref', (string) ( $payment['id'] ?? '' ) );
		$order->update_meta_data( '_wcbridge_payment_id', (string) ( $payment['gateway_payment_id'] ?? '' ) );
		$order->update_meta_data( '_wcbridge_hold_until', (string) ( $answer['hold_until'] ?? '' ) );
		// The customer's on-hold e-mail links to it when a payment falls short.
		$order->update_meta_data( '_wcbridge_pay_url', $redirect );
		$order->save();

		if ( function_exists( 'WC' ) && WC()->cart ) {
			WC()->cart->empty_cart();
		}

		return array(
			'result'   => 'success',
			'redirect' => $redirect,
		);
	}

	/**
	 * Paid_status is the status WooCommerce would give the order when paid:
	 * woocommerce_payment_complete_order_status evaluated as
	 * WC_Order::payment_complete() evaluates it. The sidecar writes it; a
	 * status other than processing or completed is not sent (logged), and
	 * the sidecar decides from the line items.
	 *
	 * @param \WC_Order $order The order.
	 */
	public static function paid_status( $order ): string {
		$default = $order->needs_processing() ? 'processing' : 'completed';
		/** This filter is documented in WooCommerce's WC_Order::payment_complete(). */
		$status = apply_filters( 'woocommerce_payment_complete_order_status', $default, (int) $order->get_id(), $order );
		$status = is_string( $status ) && 0 === strpos( $status, 'wc-' ) ? substr( $status, 3 ) : $status;
		if ( in_array( $status, array( 'processing', 'completed' ), true ) ) {
			return $status;
		}
		Plugin::log(
			'warning',
			sprintf( 'order %d: woocommerce_payment_complete_order_status gave %s; the sidecar only writes processing or completed and decides from the line items', (int) $order->get_id(), is_scalar( $status ) ? (string) $status : gettype( $status ) ),
			array( 'order_id' => (int) $order->get_id() )
		);
		return '';
	}

	/**
	 * Customer_message turns a sidecar error code into words for the customer
	 * (never the sidecar's own message: it is meant for the shop owner).
	 *
	 * @param string $code Error code.
	 */
	public static function customer_message( string $code ): string {
		switch ( $code ) {
			case 'in_progress':
				// Another request for this order is still asking the gateway.
				return __( 'Your payment is being prepared. Please wait a moment and try again.', 'wcbridge' );
			case 'conflict':
				return __( 'This order can no longer be paid with this payment method. Please reload the page, or contact us if the problem persists.', 'wcbridge' );
			case 'unsupported':
				return __( 'This payment method cannot accept your order\'s currency. Please choose another payment method.', 'wcbridge' );
			default:
				return __( 'We could not start the crypto payment just now. Please try again in a moment or choose another payment method.', 'wcbridge' );
		}
	}
}

/**
 * Gateway_StreamPay is the StreamPay payment method.
 */
class Gateway_StreamPay extends Gateway {
	/** @var string */
	public $gateway = 'streampay';

	/**
	 * The title shown at checkout until the shop sets its own.
	 *
	 * @return string
	 */
	protected function default_title(): string {
		return __( 'Crypto (StreamPay)', 'wcbridge' );
	}

	/**
	 * The description shown at checkout until the shop sets its own.
	 *
	 * @return string
	 */
	protected function default_description(): string {
		return __( 'Pay with cryptocurrency. You will be sent to StreamPay to complete the payment.', 'wcbridge' );
	}
}

/**
 * Gateway_CryptoCloud is the CryptoCloud payment method.
 */
class Gateway_CryptoCloud extends Gateway {
	/** @var string */
	public $gateway = 'cryptocloud';

	/**
	 * The title shown at checkout until the shop sets its own.
	 *
	 * @return string
	 */
	protected function default_title(): string {
		return __( 'Crypto (CryptoCloud)', 'wcbridge' );
	}

	/**
	 * The description shown at checkout until the shop sets its own.
	 *
	 * @return string
	 */
	protected function default_description(): string {
		return __( 'Pay with cryptocurrency. You will be sent to CryptoCloud to complete the payment.', 'wcbridge' );
	}
}

/**
 * Gateway_Bitstream is the Bitstream payment method.
 */
class Gateway_Bitstream extends Gateway {
	/** @var string */
	public $gateway = 'bitstream';

	/**
	 * The title shown at checkout until the shop sets its own.
	 *
	 * @return string
	 */
	protected function default_title(): string {
		return __( 'Stablecoins (Bitstream)', 'wcbridge' );
	}

	/**
	 * The description shown at checkout until the shop sets its own.
	 *
	 * @return string
	 */
	protected function default_description(): string {
		return __( 'Pay with stablecoins. You will be sent to Bitstream to complete the payment.', 'wcbridge' );
	}
}
