<?php
/**
 * Payment state on the thank-you, view-order and order-pay pages.
 *
 * @package WCBridge
 */

declare(strict_types=1);

namespace WCBridge;

defined( 'ABSPATH' ) || exit;

/**
 * Order_Pages shows the sidecar's view of the order's payment and refreshes it
 * through an AJAX proxy that signs on the server (the secret never reaches the
 * browser). Viewing a page never creates a payment.
 */
final class Order_Pages {

	public const AJAX_ACTION = 'wcbridge_payment_state';
	/** States after which the page stops polling. */
	public const FINAL_STATES = array( 'confirmed', 'expired', 'cancelled', 'none' );

	/**
	 * Hook registers the page and AJAX hooks.
	 */
	public static function hook(): void {
		foreach ( Settings::GATEWAYS as $gateway ) {
			add_action( 'woocommerce_thankyou_wcbridge_' . $gateway, array( self::class, 'thankyou' ), 5 );
		}
		add_action( 'woocommerce_view_order', array( self::class, 'view_order' ), 5 );
		add_action( 'before_woocommerce_pay_form', array( self::class, 'pay_form' ), 5 );
		add_action( 'wp_ajax_' . self::AJAX_ACTION, array( self::class, 'ajax' ) );
		add_action( 'wp_ajax_nopriv_' . self::AJAX_ACTION, array( self::class, 'ajax' ) );
	}

	/**
	 * Is_ours tells whether the order is paid through one of our methods.
	 *
	 * @param mixed $order Order.
	 */
	public static function is_ours( $order ): bool {
		return is_object( $order ) && 0 === strpos( (string) $order->get_payment_method(), 'wcbridge_' );
	}

	/**
	 * Thankyou renders the box; the script re-checks once on arrival from the gateway.
	 *
	 * @param int $order_id Order id.
	 */
	public static function thankyou( $order_id ): void {
		$order = wc_get_order( $order_id );
		if ( self::is_ours( $order ) ) {
			self::render( $order, true );
		}
	}

	/**
	 * View_order renders the box on My account → Orders → order.
	 *
	 * @param int $order_id Order id.
	 */
	public static function view_order( $order_id ): void {
		$order = wc_get_order( $order_id );
		if ( self::is_ours( $order ) ) {
			self::render( $order, false );
		}
	}

	/**
	 * Pay_form renders the box on the order-pay page when a payment was started.
	 *
	 * @param \WC_Order $order Order.
	 */
	public static function pay_form( $order ): void {
		if ( self::is_ours( $order ) && '' !== (string) $order->get_meta( '_wcbridge_payment_ref', true ) ) {
			self::render( $order, false );
		}
	}

	/**
	 * Render prints the state box and enqueues the polling script.
	 *
	 * @param \WC_Order $order   Order.
	 * @param bool      $recheck Ask the sidecar to re-check once (customer returning from the gateway).
	 */
	public static function render( $order, bool $recheck ): void {
		$answer = $recheck ? null : Client::from_settings( 8 )->order_payment( (int) $order->get_id() );
		$state  = is_array( $answer ) ? (string) ( $answer['state'] ?? '' ) : '';

		wp_enqueue_script( 'wcbridge-order-status', WCBRIDGE_PLUGIN_URL . 'assets/order-status.js', array(), WCBRIDGE_VERSION, true );
		wp_localize_script(
			'wcbridge-order-status',
			'wcbridgeOrderStatus',
			array(
				'ajaxUrl'  => admin_url( 'admin-ajax.php' ),
				'action'   => self::AJAX_ACTION,
				'interval' => 10000,
			)
		);

		printf(
			'<section class="wcbridge-payment-state woocommerce-order-details" data-order-id="%d" data-order-key="%s" data-recheck="%s" data-final="%s" aria-live="polite">%s</section>',
			(int) $order->get_id(),
			esc_attr( (string) $order->get_order_key() ),
			$recheck ? '1' : '0',
			in_array( $state, self::FINAL_STATES, true ) ? '1' : '0',
			wp_kses_post( null === $answer ? self::checking_html() : self::state_html( $order, $answer ) )
		);
	}

	/**
	 * Checking_html is shown until the first answer arrives.
	 */
	public static function checking_html(): string {
		return '<p>' . esc_html__( 'Checking your payment…', 'wcbridge' ) . '</p>';
	}

	/**
	 * State_html turns the sidecar's answer into what the customer reads.
	 *
	 * @param \WC_Order      $order  Order.
	 * @param array|\WP_Error $answer GET /v1/orders/{id}/payment answer.
	 */
	public static function state_html( $order, $answer ): string {
		if ( is_wp_error( $answer ) || ! is_array( $answer ) ) {
			return '<p>' . esc_html__( 'We cannot show the payment status right now. It is updated automatically; you can also reload this page in a minute.', 'wcbridge' ) . '</p>';
		}
		$payment = isset( $answer['payment'] ) && is_array( $answer['payment'] ) ? $answer['payment'] : array();
		$state   = (string) ( $answer['state'] ?? 'none' );
		$heading = '<h2 class="wcbridge-payment-state__title">' . esc_html__( 'Crypto payment', 'wcbridge' ) . '</h2>';

		switch ( $state ) {
			case 'waiting':
				$text = esc_html__( 'Waiting for your payment to be confirmed on the blockchain. This page updates by itself; you may also close it — we will e-mail you when the payment is confirmed.', 'wcbridge' );
				if ( ! empty( $payment['pay_url'] ) ) {
					$text .= ' <a href="' . esc_url( (string) $payment['pay_url'] ) . '">' . esc_html__( 'Open the payment page', 'wcbridge' ) . '</a>';
				}
				break;
			case 'confirmed':
				$text = esc_html__( 'Your payment is confirmed. Thank you!', 'wcbridge' );
				break;
			case 'underpaid':
				$text = sprintf(
					/* translators: %s: the missing amount in the shop's price format, e.g. $5.00 */
					esc_html__( 'We received less than the order total: %s is missing. Please pay the difference, or contact us.', 'wcbridge' ),
					Plugin::price( (string) ( $payment['shortfall'] ?? '' ), (string) ( $payment['currency'] ?? '' ) )
				);
				if ( ! empty( $payment['pay_url'] ) ) {
					$text .= ' <a href="' . esc_url( (string) $payment['pay_url'] ) . '">' . esc_html__( 'Open the payment page', 'wcbridge' ) . '</a>';
				}
				break;
			case 'expired':
				$text = esc_html__( 'The payment window has expired before the payment arrived.', 'wcbridge' );
				// Only an order still waiting for payment can be paid again
				// (the sidecar cancels expired orders unless told to leave them pending).
				if ( self::can_pay_again( $order, $answer ) ) {
					$text .= ' <a class="button" href="' . esc_url( (string) $order->get_checkout_payment_url() ) . '">' . esc_html__( 'Pay again', 'wcbridge' ) . '</a>';
				} else {
					$text .= ' ' . esc_html__( 'The order was cancelled; please place a new order, or contact us if you paid.', 'wcbridge' );
				}
				break;
			case 'cancelled':
				$text = esc_html__( 'The payment was cancelled.', 'wcbridge' );
				break;
			default:
				$text = esc_html__( 'No crypto payment has been started for this order yet.', 'wcbridge' );
		}
		return $heading . '<p class="wcbridge-payment-state__text wcbridge-state-' . esc_attr( $state ) . '">' . $text . '</p>';
	}

	/**
	 * Can_pay_again tells whether the order-pay page would accept the order.
	 * The sidecar's order_status wins over the loaded order: a re-check may
	 * have just cancelled the order in the database behind the object.
	 *
	 * @param \WC_Order $order  Order.
	 * @param array     $answer The sidecar's answer.
	 */
	private static function can_pay_again( $order, array $answer ): bool {
		if ( isset( $answer['order_status'] ) && '' !== (string) $answer['order_status'] ) {
			$status = preg_replace( '/^wc-/', '', (string) $answer['order_status'] );
			return in_array( $status, array( 'pending', 'failed' ), true );
		}
		return (bool) $order->needs_payment();
	}

	/**
	 * Ajax answers the polling script: it checks the order key and proxies to
	 * the sidecar with the signature added here.
	 */
	public static function ajax(): void {
		// phpcs:disable WordPress.Security.NonceVerification.Missing -- guests have no nonce; the order key authorises.
		$order_id = isset( $_POST['order_id'] ) ? absint( wp_unslash( $_POST['order_id'] ) ) : 0;
		$key      = isset( $_POST['key'] ) ? sanitize_text_field( wp_unslash( $_POST['key'] ) ) : '';
		$recheck  = ! empty( $_POST['recheck'] );
		// phpcs:enable
		$order = $order_id ? wc_get_order( $order_id ) : false;
		if ( ! $order || ! self::is_ours( $order ) || '' === $key || ! hash_equals( (string) $order->get_order_key(), $key ) ) {
			wp_send_json_error( array( 'message' => __( 'Order not found.', 'wcbridge' ) ), 404 );
			return;
		}

		$client = Client::from_settings( 10 );
		// One re-check per order and minute, however often the page is reloaded.
		if ( $recheck && false === get_transient( 'wcbridge_recheck_' . $order_id ) ) {
			set_transient( 'wcbridge_recheck_' . $order_id, 1, MINUTE_IN_SECONDS );
			$answer = $client->recheck( $order_id );
		} else {
			$answer = $client->order_payment( $order_id );
		}
		if ( is_wp_error( $answer ) ) {
			Plugin::log( 'warning', sprintf( 'payment state for order %d: %s %s', $order_id, $answer->get_error_code(), $answer->get_error_message() ), array( 'order_id' => $order_id ) );
		}
		$state = is_array( $answer ) ? (string) ( $answer['state'] ?? '' ) : '';
		wp_send_json_success(
			array(
				'state' => $state,
				'final' => in_array( $state, self::FINAL_STATES, true ),
				'html'  => self::state_html( $order, $answer ),
			)
		);
	}
}
