<?php
/**
 * What the plugin tells people by e-mail: the shop, when a crypto payment
 * needs a human; the customer, how much of an underpaid order is missing.
 *
 * @package WCBridge
 */

declare(strict_types=1);

namespace WCBridge;

defined( 'ABSPATH' ) || exit;

/**
 * Emails registers the shop's "crypto payment needs attention" e-mail with
 * WooCommerce's mailer (WooCommerce → Settings → Emails, where the shop can
 * switch it off or change its recipients) and adds the missing amount and the
 * payment link to WooCommerce's own on-hold e-mail to the customer.
 */
final class Emails {

	public const ATTENTION_ID = 'wcbridge_payment_attention';

	/**
	 * Hook registers the e-mail class and the on-hold addition.
	 */
	public static function hook(): void {
		add_filter( 'woocommerce_email_classes', array( self::class, 'register' ) );
		add_action( 'woocommerce_email_before_order_table', array( self::class, 'on_hold_details' ), 10, 4 );
	}

	/**
	 * Register adds the shop e-mail to WooCommerce's list.
	 *
	 * @param array $emails E-mail objects by class name.
	 * @return array
	 */
	public static function register( $emails ) {
		if ( ! is_array( $emails ) || ! class_exists( 'WC_Email' ) ) {
			return $emails;
		}
		require_once WCBRIDGE_PLUGIN_DIR . 'includes/class-email-attention.php';
		$emails['WCBridge_Email_Payment_Attention'] = new Email_Payment_Attention();
		return $emails;
	}

	/**
	 * Payment_needs_attention e-mails the shop when the finished event is a
	 * payment a human must look at: underpaid, overpaid, paid twice, or paid
	 * after the order was cancelled or the payment had expired.
	 *
	 * @param int    $order_id Order id.
	 * @param array  $event    The notification.
	 * @param string $from     Status before the event.
	 * @param string $to       Status after it.
	 */
	public static function payment_needs_attention( int $order_id, array $event, string $from, string $to ): void {
		$order = wc_get_order( $order_id );
		if ( ! $order ) {
			return;
		}
		$findings = self::findings( $order, $event, $from, $to );
		if ( ! empty( $findings ) ) {
			self::send_attention( $order, $findings );
		}
	}

	/**
	 * Order_moved e-mails the shop that a change of the sidecar reached an
	 * order that had been changed meanwhile.
	 *
	 * @param int    $order_id Order id.
	 * @param array  $event    The notification.
	 * @param string $to       Where the sidecar's change led.
	 * @param string $now      The order's status now.
	 */
	public static function order_moved( int $order_id, array $event, string $to, string $now ): void {
		$order = wc_get_order( $order_id );
		if ( ! $order ) {
			return;
		}
		self::send_attention(
			$order,
			array(
				array(
					'code' => 'moved',
					'text' => self::left_note( $order, $event, $to ),
				),
			)
		);
	}

	/**
	 * Left_note is the private note on an order the shop changed before a
	 * transition of the sidecar could be finished.
	 *
	 * @param \WC_Order $order The order.
	 * @param array     $event The notification.
	 * @param string    $to    Where the sidecar's change led.
	 */
	public static function left_note( $order, array $event, string $to ): string {
		$now     = (string) $order->get_status();
		$payment = self::payment( $event );
		$money   = in_array( (string) ( $event['outcome'] ?? '' ), array( 'paid', 'on-hold' ), true ) && '' !== $payment['received_text'];
		if ( $money ) {
			$text = sprintf(
				/* translators: 1: amount, 2: gateway, 3: order status */
				__( 'A payment of %1$s via %2$s was received after the order was changed to "%3$s".', 'wcbridge' ),
				$payment['received_text'],
				$payment['gateway'],
				wc_get_order_status_name( $now )
			);
		} else {
			$text = sprintf(
				/* translators: 1: status the change led to, 2: order status */
				__( 'The crypto payment service had changed this order to "%1$s", but it was changed to "%2$s" before WordPress heard of it.', 'wcbridge' ),
				wc_get_order_status_name( $to ),
				wc_get_order_status_name( $now )
			);
		}
		$text .= ' ' . __( 'Nothing of that change was finished (no stock change, no e-mails).', 'wcbridge' );
		if ( $money && 'cancelled' === $now ) {
			$text .= ' ' . __( 'Reinstate the order or refund the payment.', 'wcbridge' );
		} elseif ( $money ) {
			$text .= ' ' . __( 'Check the order, and refund the payment if it is not owed.', 'wcbridge' );
		}
		return $text;
	}

	/**
	 * Findings lists what about the event needs a human, each as
	 * array{code: string, text: string} (text may hold the shop's price
	 * format HTML).
	 *
	 * @param \WC_Order $order The order.
	 * @param array     $event The notification.
	 * @param string    $from  Status before the event.
	 * @param string    $to    Status after it.
	 * @return array<int,array{code:string,text:string}>
	 */
	public static function findings( $order, array $event, string $from, string $to ): array {
		$p        = self::payment( $event );
		$status   = (string) ( $p['status'] ?? '' );
		$outcome  = (string) ( $event['outcome'] ?? '' );
		$event_id = (string) ( $event['event_id'] ?? '' );
		$out      = array();

		if ( 'note' === $outcome && in_array( $status, array( 'paid', 'overpaid' ), true ) && str_ends_with( $event_id, ':second' ) ) {
			$out[] = array(
				'code' => 'paid_twice',
				'text' => sprintf(
					/* translators: 1: amount, 2: gateway, 3: gateway's payment id */
					__( 'A second payment of %1$s was received via %2$s (payment %3$s) for an order that was already paid. Refund it if it is not owed.', 'wcbridge' ),
					$p['received_text'],
					$p['gateway'],
					$p['id']
				),
			);
			return $out;
		}
		if ( 'note' === $outcome && in_array( $status, array( 'paid', 'overpaid', 'underpaid' ), true ) && preg_match( '/^wcbridge:\d+:(paid|overpaid|underpaid)$/', $event_id ) ) {
			// Money for an order whose status could not follow (refunded,
			// completed by hand): the sidecar only noted it.
			$out[] = array(
				'code' => 'needs_check',
				'text' => sprintf(
					/* translators: 1: amount, 2: gateway, 3: gateway's payment id, 4: order status */
					__( 'A payment of %1$s arrived via %2$s (payment %3$s) for an order whose status ("%4$s") did not let it change. Check the order, and refund the payment if it is not owed.', 'wcbridge' ),
					$p['received_text'],
					$p['gateway'],
					$p['id'],
					wc_get_order_status_name( (string) $order->get_status() )
				),
			);
			return $out;
		}
		if ( 'on-hold' === $outcome && 'underpaid' === $status ) {
			$out[] = array(
				'code' => 'underpaid',
				'text' => sprintf(
					/* translators: 1: amount received, 2: order total, 3: amount missing, 4: gateway */
					__( 'Underpaid: %1$s of %2$s received via %4$s, %3$s missing. The order is on hold; the customer was told how much is missing and how to pay it. Wait for the rest, or complete or refund the order.', 'wcbridge' ),
					$p['received_text'],
					$p['amount_text'],
					$p['shortfall_text'],
					$p['gateway']
				),
			);
		}
		if ( in_array( $outcome, array( 'paid', 'on-hold' ), true ) && 'overpaid' === $status ) {
			$out[] = array(
				'code' => 'overpaid',
				'text' => sprintf(
					/* translators: 1: amount received, 2: order total, 3: excess, 4: gateway */
					__( 'Overpaid: %1$s received via %4$s for an order total of %2$s, %3$s too much. Refund the excess if it is owed.', 'wcbridge' ),
					$p['received_text'],
					$p['amount_text'],
					$p['excess_text'],
					$p['gateway']
				),
			);
		}
		if ( in_array( $outcome, array( 'paid', 'on-hold' ), true ) && in_array( $status, array( 'paid', 'overpaid', 'underpaid' ), true ) && self::late( $event, $from ) ) {
			$out[] = array(
				'code' => 'paid_late',
				'text' => sprintf(
					/* translators: 1: amount, 2: gateway, 3: order status */
					__( 'Paid late: %1$s arrived via %2$s after the order was cancelled or its payment had expired. The order is now "%3$s": check that the items are still in stock, or refund the payment.', 'wcbridge' ),
					$p['received_text'],
					$p['gateway'],
					wc_get_order_status_name( '' !== $to ? $to : (string) $order->get_status() )
				),
			);
		}
		return $out;
	}

	/**
	 * Late reports whether the payment arrived after the order was cancelled
	 * or after the payment's own expiry.
	 *
	 * @param array  $event The notification.
	 * @param string $from  Status before the event.
	 */
	private static function late( array $event, string $from ): bool {
		if ( 'cancelled' === $from ) {
			return true;
		}
		$p       = isset( $event['payment'] ) && is_array( $event['payment'] ) ? $event['payment'] : array();
		$expires = isset( $p['expires_at'] ) && is_string( $p['expires_at'] ) ? strtotime( $p['expires_at'] ) : false;
		$at      = isset( $event['occurred_at'] ) && is_string( $event['occurred_at'] ) ? strtotime( $event['occurred_at'] ) : false;
		return false !== $expires && false !== $at && $at > $expires;
	}

	/**
	 * Payment reads the notification's payment object, with its amounts in
	 * the shop's price format.
	 *
	 * @param array $event The notification.
	 * @return array<string,string>
	 */
	public static function payment( array $event ): array {
		$p        = isset( $event['payment'] ) && is_array( $event['payment'] ) ? $event['payment'] : array();
		$currency = isset( $p['currency'] ) && is_string( $p['currency'] ) ? $p['currency'] : '';
		$out      = array(
			'status'  => isset( $p['status'] ) && is_string( $p['status'] ) ? $p['status'] : '',
			'gateway' => Settings::gateway_label( isset( $p['gateway'] ) && is_string( $p['gateway'] ) ? $p['gateway'] : '' ),
			'id'      => isset( $p['gateway_payment_id'] ) && is_string( $p['gateway_payment_id'] ) ? $p['gateway_payment_id'] : '',
			'pay_url' => isset( $p['pay_url'] ) && is_string( $p['pay_url'] ) ? $p['pay_url'] : '',
		);
		foreach ( array( 'amount', 'received', 'shortfall', 'excess' ) as $key ) {
			$value                  = isset( $p[ $key ] ) && is_string( $p[ $key ] ) && is_numeric( $p[ $key ] ) ? $p[ $key ] : '';
			$out[ $key . '_text' ] = '' === $value ? '' : self::price( $value, $currency );
		}
		if ( '' === $out['received_text'] ) {
			$out['received_text'] = $out['amount_text'];
		}
		return $out;
	}

	/**
	 * Price formats an amount (a decimal string) in the shop's price format,
	 * every significant decimal kept (Plugin::price()).
	 *
	 * @param string $amount   Decimal string.
	 * @param string $currency Currency code.
	 */
	public static function price( string $amount, string $currency ): string {
		if ( ! function_exists( 'wc_price' ) ) {
			return $amount . ' ' . $currency;
		}
		return Plugin::price( $amount, $currency );
	}

	/**
	 * On_hold_details adds to WooCommerce's on-hold e-mail for an underpaid
	 * crypto order how much is missing and where to pay it.
	 *
	 * @param \WC_Order $order         The order.
	 * @param bool      $sent_to_admin Whether the e-mail goes to the shop.
	 * @param bool      $plain_text    Plain text e-mail.
	 * @param object    $email         The WC_Email being sent.
	 */
	public static function on_hold_details( $order, $sent_to_admin = false, $plain_text = false, $email = null ): void {
		if ( $sent_to_admin || ! is_object( $email ) || 'customer_on_hold_order' !== ( $email->id ?? '' ) || ! is_object( $order ) ) {
			return;
		}
		$missing = self::missing( $order );
		if ( null === $missing ) {
			return;
		}
		$text = sprintf(
			/* translators: 1: amount received, 2: order total, 3: amount missing */
			__( 'We have received %1$s of %2$s for this order: %3$s is still missing. Your order is on hold until it arrives.', 'wcbridge' ),
			$missing['received'],
			$missing['total'],
			$missing['missing']
		);
		$link = $missing['pay_url'];
		if ( $plain_text ) {
			echo esc_html( wp_strip_all_tags( $text ) ) . "\n";
			if ( '' !== $link ) {
				echo esc_html__( 'Pay the rest here:', 'wcbridge' ) . ' ' . esc_url_raw( $link ) . "\n\n";
			}
			return;
		}
		echo '<p class="wcbridge-missing">' . wp_kses_post( $text ) . '</p>';
		if ( '' !== $link ) {
			echo '<p class="wcbridge-pay-link"><a href="' . esc_url( $link ) . '">' . esc_html__( 'Pay the rest here', 'wcbridge' ) . '</a></p>';
		}
	}

	/**
	 * Missing says how much of an underpaid crypto order is missing, from the
	 * amounts the sidecar keeps in the order's meta (Plugin::payment_meta);
	 * null when nothing is.
	 *
	 * @param \WC_Order $order The order.
	 * @return array{received:string,total:string,missing:string,pay_url:string}|null
	 */
	public static function missing( $order ): ?array {
		$figures = Plugin::payment_meta( $order );
		if ( 'underpaid' !== $figures['status'] ) {
			return null;
		}
		$amount   = $figures['amount'];
		$received = $figures['received'];
		$currency = $figures['currency'];
		$pay_url  = (string) $order->get_meta( '_wcbridge_pay_url', true );
		$current  = Finisher::$current;
		if ( is_array( $current ) && (int) ( $current['order_id'] ?? 0 ) === (int) $order->get_id() ) {
			$p        = self::payment( $current );
			$pay_url  = '' !== $p['pay_url'] ? $p['pay_url'] : $pay_url;
			$payment  = is_array( $current['payment'] ?? null ) ? $current['payment'] : array();
			$amount   = is_string( $payment['amount'] ?? null ) ? $payment['amount'] : $amount;
			$received = is_string( $payment['received'] ?? null ) ? $payment['received'] : $received;
			$currency = is_string( $payment['currency'] ?? null ) ? $payment['currency'] : $currency;
		}
		if ( ! is_numeric( $amount ) || ! is_numeric( $received ) || '' === $currency ) {
			return null;
		}
		$short = self::subtract( $amount, $received );
		if ( null === $short ) {
			return null;
		}
		if ( ! preg_match( '#^https?://#i', $pay_url ) ) {
			$pay_url = '';
		}
		return array(
			'received' => self::price( $received, $currency ),
			'total'    => self::price( $amount, $currency ),
			'missing'  => self::price( $short, $currency ),
			'pay_url'  => $pay_url,
		);
	}

	/**
	 * Subtract is $a - $b for decimal strings, exactly (bcmath when present,
	 * else scaled integers of up to 8 decimals); null when not positive.
	 *
	 * @param string $a Minuend.
	 * @param string $b Subtrahend.
	 */
	public static function subtract( string $a, string $b ): ?string {
		if ( function_exists( 'bcsub' ) ) {
			$d = bcsub( $a, $b, 8 );
			return 1 === bccomp( $d, '0', 8 ) ? rtrim( rtrim( $d, '0' ), '.' ) : null;
		}
		$scale = static function ( string $n ): ?int {
			if ( ! preg_match( '/^(-?)(\d+)(?:\.(\d{0,8}))?$/', trim( $n ), $m ) ) {
				return null;
			}
			$v = (int) $m[2] * 100000000 + (int) str_pad( $m[3] ?? '', 8, '0' );
			return '-' === $m[1] ? -$v : $v;
		};
		$x = $scale( $a );
		$y = $scale( $b );
		if ( null === $x || null === $y || $x - $y <= 0 ) {
			return null;
		}
		$d = $x - $y;
		return rtrim( rtrim( intdiv( $d, 100000000 ) . '.' . str_pad( (string) ( $d % 100000000 ), 8, '0', STR_PAD_LEFT ), '0' ), '.' );
	}

	/**
	 * Send_attention hands the findings to the shop e-mail.
	 *
	 * @param \WC_Order $order    The order.
	 * @param array     $findings What needs a human.
	 */
	private static function send_attention( $order, array $findings ): void {
		if ( ! function_exists( 'WC' ) ) {
			return;
		}
		$emails = WC()->mailer()->get_emails();
		$email  = $emails['WCBridge_Email_Payment_Attention'] ?? null;
		if ( is_object( $email ) && method_exists( $email, 'trigger' ) ) {
			$email->trigger( (int) $order->get_id(), $order, $findings );
		}
	}
}
