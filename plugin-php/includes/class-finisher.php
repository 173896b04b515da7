<?php
/**
 * Finishing what WooCommerce does in PHP after the sidecar changed an order.
 *
 * @package WCBridge
 */

declare(strict_types=1);

namespace WCBridge;

defined( 'ABSPATH' ) || exit;

/**
 * Lock serialises the finishing of one order across PHP processes.
 */
interface Lock {
	/**
	 * Acquire waits up to $timeout seconds for the named lock.
	 *
	 * @param string $name    Lock name.
	 * @param int    $timeout Seconds.
	 */
	public function acquire( string $name, int $timeout ): bool;

	/**
	 * Release frees the named lock.
	 *
	 * @param string $name Lock name.
	 */
	public function release( string $name ): void;
}

/**
 * Db_Lock uses MySQL's named locks through $wpdb. They belong to the database
 * connection, so a crashed PHP process cannot leave one behind.
 */
final class Db_Lock implements Lock {

	/** {@inheritDoc} */
	public function acquire( string $name, int $timeout ): bool {
		global $wpdb;
		return '1' === (string) $wpdb->get_var( $wpdb->prepare( 'SELECT GET_LOCK(%s, %d)', $this->key( $name ), $timeout ) );
	}

	/** {@inheritDoc} */
	public function release( string $name ): void {
		global $wpdb;
		$wpdb->get_var( $wpdb->prepare( 'SELECT RELEASE_LOCK(%s)', $this->key( $name ) ) );
	}

	/**
	 * Key scopes the lock to this site's tables (MySQL lock names are server-wide, at most 64 characters).
	 *
	 * @param string $name Lock name.
	 */
	private function key( string $name ): string {
		global $wpdb;
		return substr( $wpdb->prefix . $name, 0, 64 );
	}
}

/**
 * Finisher does, exactly once per event_id, the PHP side of an order change
 * the sidecar already wrote to the database (docs/plugin-api.md, "Sidecar →
 * plugin").
 */
class Finisher {

	public const OUTCOMES      = array( 'paid', 'on-hold', 'failed', 'cancelled', 'note' );
	public const FINISHED_META = '_wcbridge_finished';
	/** How many finished event ids an order remembers. */
	private const KEEP = 50;

	/**
	 * The lock.
	 *
	 * @var Lock
	 */
	private $lock;

	/**
	 * Constructor.
	 *
	 * @param Lock|null $lock Lock; MySQL named locks by default.
	 */
	public function __construct( ?Lock $lock = null ) {
		$this->lock = $lock ?? new Db_Lock();
	}

	/**
	 * Finish handles one notification.
	 *
	 * @param array $event Decoded notification body.
	 * @return bool|\WP_Error True when the work was done now, false when the
	 *                        event was already finished.
	 */
	public function finish( array $event ) {
		$event_id = isset( $event['event_id'] ) && is_string( $event['event_id'] ) ? $event['event_id'] : '';
		$order_id = isset( $event['order_id'] ) && is_numeric( $event['order_id'] ) ? (int) $event['order_id'] : 0;
		$outcome  = isset( $event['outcome'] ) && is_string( $event['outcome'] ) ? $event['outcome'] : '';
		if ( '' === $event_id || strlen( $event_id ) > 191 || $order_id <= 0 || ! in_array( $outcome, self::OUTCOMES, true ) ) {
			return new \WP_Error( 'invalid', 'event_id, order_id and outcome (paid, on-hold, failed, cancelled, note) are required', array( 'status' => 400 ) );
		}

		$lock = 'wcbridge_finish_' . $order_id;
		if ( ! $this->lock->acquire( $lock, 8 ) ) {
			return new \WP_Error( 'unavailable', 'another notification for this order is being finished; retry later', array( 'status' => 503 ) );
		}
		try {
			self::clear_order_caches( $order_id );
			$order = wc_get_order( $order_id );
			if ( ! $order ) {
				return new \WP_Error( 'order_gone', 'order not found', array( 'status' => 410 ) );
			}
			$finished = $order->get_meta( self::FINISHED_META, true );
			$finished = is_array( $finished ) ? $finished : array();
			if ( in_array( $event_id, $finished, true ) ) {
				return false;
			}

			$this->work( $order, $outcome, $event );

			// The work saved the order through other instances; record on a fresh one.
			self::clear_order_caches( $order_id );
			$order = wc_get_order( $order_id );
			if ( ! $order ) {
				return new \WP_Error( 'order_gone', 'order not found', array( 'status' => 410 ) );
			}
			$finished[] = $event_id;
			$order->update_meta_data( self::FINISHED_META, array_slice( $finished, -self::KEEP ) );
			$order->save();
			Plugin::log( 'info', sprintf( 'finished %s for order %d (%s)', $event_id, $order_id, $outcome ), array( 'order_id' => $order_id ) );
			return true;
		} finally {
			$this->lock->release( $lock );
		}
	}

	/**
	 * Work does what payment_complete() / update_status() would have done
	 * beyond the status write the sidecar made.
	 *
	 * @param \WC_Order $order   Freshly loaded order.
	 * @param string    $outcome Outcome.
	 * @param array     $event   The notification.
	 */
	protected function work( $order, string $outcome, array $event ): void {
		$order_id = (int) $order->get_id();
		$from     = isset( $event['from_status'] ) ? (string) $event['from_status'] : '';
		$txn      = isset( $event['transaction_id'] ) ? (string) $event['transaction_id'] : (string) $order->get_transaction_id();

		switch ( $outcome ) {
			case 'paid':
				wc_maybe_reduce_stock_levels( $order_id );
				wc_release_stock_for_order( $order );
				wc_update_total_sales_counts( $order_id );
				wc_update_coupon_usage_counts( $order_id );
				if ( $order->has_status( 'completed' ) || 'no' !== get_option( 'woocommerce_downloads_grant_access_after_payment' ) ) {
					wc_downloadable_product_permissions( $order_id );
				}
				$this->send_email( 'WC_Email_New_Order', $order_id );
				$this->send_email( $order->has_status( 'completed' ) ? 'WC_Email_Customer_Completed_Order' : 'WC_Email_Customer_Processing_Order', $order_id );
				do_action( 'woocommerce_payment_complete', $order_id, $txn );
				break;

			case 'on-hold':
				wc_maybe_reduce_stock_levels( $order_id );
				wc_release_stock_for_order( $order );
				$this->send_email( 'WC_Email_Customer_On_Hold_Order', $order_id );
				break;

			case 'cancelled':
				wc_release_stock_for_order( $order );
				wc_maybe_increase_stock_levels( $order_id );
				// WooCommerce mails "Cancelled order" only for orders that were processing or on hold.
				if ( in_array( $from, array( 'processing', 'on-hold' ), true ) ) {
					$this->send_email( 'WC_Email_Cancelled_Order', $order_id );
				}
				break;

			case 'failed':
				// WooCommerce mails "Failed order" for pending→failed and on-hold→failed.
				if ( in_array( $from, array( '', 'pending', 'on-hold' ), true ) ) {
					$this->send_email( 'WC_Email_Failed_Order', $order_id );
				}
				break;

			case 'note':
			default:
				break;
		}
	}

	/**
	 * Send_email triggers one of WooCommerce's e-mails for the order.
	 *
	 * @param string $class    E-mail class name, the key in get_emails().
	 * @param int    $order_id Order id.
	 */
	protected function send_email( string $class, int $order_id ): void {
		if ( ! function_exists( 'WC' ) ) {
			return;
		}
		$emails = WC()->mailer()->get_emails();
		if ( empty( $emails[ $class ] ) ) {
			return;
		}
		// The e-mail's own trigger reloads nothing: hand it a fresh order.
		self::clear_order_caches( $order_id );
		$order = wc_get_order( $order_id );
		if ( $order ) {
			$emails[ $class ]->trigger( $order_id, $order );
		}
	}

	/**
	 * Clear_order_caches drops what WordPress and WooCommerce cached about the
	 * order, so the sidecar's direct database write is seen.
	 *
	 * @param int $order_id Order id.
	 */
	public static function clear_order_caches( int $order_id ): void {
		clean_post_cache( $order_id );
		wc_delete_shop_order_transients( $order_id );
		wp_cache_delete( 'order-items-' . $order_id, 'orders' );
		if ( function_exists( 'wc_get_container' ) && class_exists( \Automattic\WooCommerce\Caches\OrderCache::class ) ) {
			try {
				wc_get_container()->get( \Automattic\WooCommerce\Caches\OrderCache::class )->remove( $order_id );
			} catch ( \Throwable $e ) {
				Plugin::log( 'warning', 'could not clear the order cache: ' . $e->getMessage(), array( 'order_id' => $order_id ) );
			}
		}
	}
}
