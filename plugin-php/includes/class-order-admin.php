<?php
/**
 * The order screen: payment meta box, "Re-check payment" order and bulk actions.
 *
 * @package WCBridge
 */

declare(strict_types=1);

namespace WCBridge;

defined( 'ABSPATH' ) || exit;

/**
 * Order_Admin works with both the HPOS screen (woocommerce_page_wc-orders)
 * and the legacy one (shop_order).
 */
final class Order_Admin {

	public const ACTION = 'wcbridge_recheck';
	/** List screens: legacy posts list and HPOS list. */
	public const LIST_SCREENS = array( 'edit-shop_order', 'woocommerce_page_wc-orders' );

	/**
	 * Hook registers the order screen hooks.
	 */
	public static function hook(): void {
		add_action( 'add_meta_boxes', array( self::class, 'add_meta_box' ), 10, 2 );
		add_filter( 'woocommerce_order_actions', array( self::class, 'order_actions' ), 10, 2 );
		add_action( 'woocommerce_order_action_' . self::ACTION, array( self::class, 'order_action' ) );
		foreach ( self::LIST_SCREENS as $screen ) {
			add_filter( 'bulk_actions-' . $screen, array( self::class, 'bulk_actions' ) );
			add_filter( 'handle_bulk_actions-' . $screen, array( self::class, 'handle_bulk_action' ), 10, 3 );
		}
		add_action( 'admin_notices', array( self::class, 'bulk_notice' ) );
	}

	/**
	 * Add_meta_box adds the box on the order edit screen, HPOS or legacy.
	 *
	 * @param string $screen_id      Screen (post type on the legacy screen).
	 * @param mixed  $post_or_order  WP_Post or WC_Order.
	 */
	public static function add_meta_box( $screen_id, $post_or_order = null ): void {
		$screens = array( 'shop_order', 'woocommerce_page_wc-orders' );
		if ( function_exists( 'wc_get_page_screen_id' ) ) {
			$screens[] = wc_get_page_screen_id( 'shop-order' );
		}
		if ( ! in_array( $screen_id, $screens, true ) ) {
			return;
		}
		$order = self::order_from( $post_or_order );
		if ( ! Order_Pages::is_ours( $order ) ) {
			return;
		}
		add_meta_box( 'wcbridge-payment', __( 'Crypto payment (wcbridge)', 'wcbridge' ), array( self::class, 'render_meta_box' ), $screen_id, 'side', 'default' );
	}

	/**
	 * Order_from turns a meta-box argument into an order.
	 *
	 * @param mixed $post_or_order WP_Post, WC_Order or id.
	 * @return \WC_Order|false
	 */
	private static function order_from( $post_or_order ) {
		if ( is_object( $post_or_order ) && method_exists( $post_or_order, 'get_payment_method' ) ) {
			return $post_or_order;
		}
		if ( $post_or_order instanceof \WP_Post ) {
			return wc_get_order( $post_or_order->ID );
		}
		return is_numeric( $post_or_order ) ? wc_get_order( (int) $post_or_order ) : false;
	}

	/**
	 * Render_meta_box shows what the plugin knows and the sidecar's live view.
	 *
	 * @param mixed $post_or_order WP_Post or WC_Order.
	 */
	public static function render_meta_box( $post_or_order ): void {
		$order = self::order_from( $post_or_order );
		if ( ! $order ) {
			return;
		}
		$answer  = Client::from_settings( 5 )->order_payment( (int) $order->get_id() );
		$payment = is_array( $answer ) && isset( $answer['payment'] ) && is_array( $answer['payment'] ) ? $answer['payment'] : array();

		$currency = (string) ( $payment['currency'] ?? '' );
		$money    = static function ( string $key ) use ( $payment, $currency ): string {
			if ( ! isset( $payment[ $key ] ) || ( 'shortfall' === $key && 0 === (int) preg_match( '/[1-9]/', (string) $payment[ $key ] ) ) ) {
				return '';
			}
			return Plugin::price( (string) $payment[ $key ], $currency );
		};
		// Values are HTML: text is escaped here, amounts come from wc_price().
		$rows = array(
			__( 'Gateway', 'wcbridge' )             => esc_html( Settings::gateway_label( (string) ( $payment['gateway'] ?? $order->get_meta( '_wcbridge_gateway', true ) ) ) ),
			__( 'State', 'wcbridge' )               => esc_html( is_array( $answer ) ? (string) ( $answer['state'] ?? '' ) : '' ),
			__( 'Payment', 'wcbridge' )             => esc_html( (string) ( $payment['id'] ?? $order->get_meta( '_wcbridge_payment_ref', true ) ) ),
			__( 'Gateway payment id', 'wcbridge' )  => esc_html( (string) ( $payment['gateway_payment_id'] ?? $order->get_meta( '_wcbridge_payment_id', true ) ) ),
			__( 'Amount asked', 'wcbridge' )        => $money( 'amount' ),
			__( 'Amount received', 'wcbridge' )     => $money( 'received' ),
			__( 'Shortfall', 'wcbridge' )           => $money( 'shortfall' ),
			__( 'Transaction', 'wcbridge' )         => esc_html( (string) ( $payment['tx_ref'] ?? $order->get_transaction_id() ) ),
			__( 'Expires', 'wcbridge' )             => esc_html( Plugin::datetime( (string) ( $payment['expires_at'] ?? '' ) ) ),
		);
		echo '<dl class="wcbridge-payment-box">';
		foreach ( $rows as $label => $value ) {
			if ( '' === trim( $value ) ) {
				continue;
			}
			echo '<dt><strong>' . esc_html( $label ) . '</strong></dt><dd style="margin:0 0 .5em;word-break:break-all">' . wp_kses_post( $value ) . '</dd>';
		}
		echo '</dl>';
		if ( ! empty( $payment['pay_url'] ) ) {
			echo '<p><a href="' . esc_url( (string) $payment['pay_url'] ) . '" target="_blank" rel="noopener noreferrer">' . esc_html__( 'Open at the gateway', 'wcbridge' ) . '</a></p>';
		}
		if ( is_wp_error( $answer ) ) {
			echo '<p class="description">' . esc_html__( 'The sidecar could not be reached:', 'wcbridge' ) . ' ' . esc_html( $answer->get_error_message() ) . '</p>';
		}
	}

	/**
	 * Order_actions adds "Re-check crypto payment" to the order actions.
	 *
	 * @param array $actions Actions.
	 * @param mixed $order   Order (WooCommerce 8.2+ passes it).
	 */
	public static function order_actions( $actions, $order = null ) {
		if ( null === $order || Order_Pages::is_ours( $order ) ) {
			$actions[ self::ACTION ] = __( 'Re-check crypto payment', 'wcbridge' );
		}
		return $actions;
	}

	/**
	 * Order_action runs the re-check from the order screen (WooCommerce has
	 * checked the nonce and the edit capability before it fires).
	 *
	 * @param \WC_Order $order Order.
	 */
	public static function order_action( $order ): void {
		if ( ! current_user_can( 'manage_woocommerce' ) && ! current_user_can( 'edit_shop_orders' ) ) {
			return;
		}
		$answer = self::recheck( (int) $order->get_id() );
		if ( is_wp_error( $answer ) ) {
			$order->add_order_note( __( 'Re-check of the crypto payment failed:', 'wcbridge' ) . ' ' . $answer->get_error_message() );
			return;
		}
		/* translators: %s: payment state */
		$order->add_order_note( sprintf( __( 'Crypto payment re-checked; the sidecar reports: %s.', 'wcbridge' ), (string) ( $answer['state'] ?? '' ) ) );
	}

	/**
	 * Recheck asks the sidecar to re-check one order.
	 *
	 * @param int $order_id Order id.
	 * @return array|\WP_Error
	 */
	public static function recheck( int $order_id ) {
		$answer = Client::from_settings( 15 )->recheck( $order_id );
		if ( is_wp_error( $answer ) ) {
			Plugin::log( 'warning', sprintf( 're-check of order %d failed: %s %s', $order_id, $answer->get_error_code(), $answer->get_error_message() ), array( 'order_id' => $order_id ) );
		}
		return $answer;
	}

	/**
	 * Bulk_actions adds the re-check to the orders list.
	 *
	 * @param array $actions Actions.
	 */
	public static function bulk_actions( $actions ) {
		$actions[ self::ACTION ] = __( 'Re-check crypto payment', 'wcbridge' );
		return $actions;
	}

	/**
	 * Handle_bulk_action re-checks the selected orders paid through wcbridge
	 * (the list table has verified its bulk-action nonce).
	 *
	 * @param string $redirect Redirect URL.
	 * @param string $action   Action.
	 * @param array  $ids      Order ids.
	 */
	public static function handle_bulk_action( $redirect, $action, $ids ) {
		if ( self::ACTION !== $action || ! current_user_can( 'manage_woocommerce' ) ) {
			return $redirect;
		}
		$done   = 0;
		$failed = 0;
		foreach ( array_slice( array_map( 'absint', (array) $ids ), 0, 50 ) as $id ) {
			$order = wc_get_order( $id );
			if ( ! Order_Pages::is_ours( $order ) ) {
				continue;
			}
			if ( is_wp_error( self::recheck( $id ) ) ) {
				++$failed;
			} else {
				++$done;
			}
		}
		return add_query_arg(
			array(
				'wcbridge_rechecked'      => $done,
				'wcbridge_recheck_failed' => $failed,
			),
			$redirect
		);
	}

	/**
	 * Bulk_notice reports the bulk re-check.
	 */
	public static function bulk_notice(): void {
		// phpcs:disable WordPress.Security.NonceVerification.Recommended -- display only.
		if ( ! isset( $_GET['wcbridge_rechecked'] ) || ! current_user_can( 'manage_woocommerce' ) ) {
			return;
		}
		$done   = absint( $_GET['wcbridge_rechecked'] );
		$failed = isset( $_GET['wcbridge_recheck_failed'] ) ? absint( $_GET['wcbridge_recheck_failed'] ) : 0;
		// phpcs:enable
		$class = $failed ? 'notice-warning' : 'notice-success';
		/* translators: 1: orders re-checked, 2: orders that failed */
		$text = sprintf( __( 'Crypto payments re-checked: %1$d. Failed: %2$d (see WooCommerce → Status → Logs, source wcbridge).', 'wcbridge' ), $done, $failed );
		echo '<div class="notice ' . esc_attr( $class ) . ' is-dismissible"><p>' . esc_html( $text ) . '</p></div>';
	}
}
