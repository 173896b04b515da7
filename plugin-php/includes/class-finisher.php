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
 * Finisher finishes, exactly once per event_id, an order change the sidecar
 * already wrote to the database (docs/plugin-api.md, "Sidecar → plugin").
 *
 * It replays the transition: it fires the hooks WooCommerce's own status
 * change fires (WC_Order::payment_complete() for a payment, the status
 * transition of WC_Order::save() otherwise), in WooCommerce's order, with the
 * status the order really came from, and lets WooCommerce's own listeners on
 * those hooks do their work: stock, sales counts, coupon usage, download
 * permissions, e-mails, the order-count cache. It does none of that work by
 * hand.
 *
 * It finishes a transition only while the order is still where the
 * transition led: an order the shop moved on meanwhile gets a private note
 * and an e-mail to the shop instead; an event whose change is not in the
 * database at all is refused (409).
 */
class Finisher {

	public const OUTCOMES        = array( 'paid', 'on-hold', 'failed', 'cancelled', 'note' );
	public const FINISHED_META   = '_wcbridge_finished';
	public const EVENT_META      = '_wcbridge_event';
	public const TRANSITION_META = '_wcbridge_transition';
	/** How many finished event ids an order remembers. */
	private const KEEP = 50;

	/**
	 * The notification being finished, for the e-mails its hooks send (the
	 * customer's on-hold e-mail reads the payment link from it).
	 *
	 * @var array|null
	 */
	public static $current = null;

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
	 * @return bool|\WP_Error True when the event was handled now, false when
	 *                        it had been finished before.
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
			// Re-read the order fresh: the sidecar wrote it behind every cache.
			self::clear_order_caches( $order_id, false );
			$order = wc_get_order( $order_id );
			if ( ! $order ) {
				return new \WP_Error( 'order_gone', 'order not found', array( 'status' => 410 ) );
			}
			$finished = self::finished( $order );
			if ( in_array( $event_id, $finished, true ) ) {
				return false;
			}
			if ( ! in_array( $event_id, self::meta_values( $order, self::EVENT_META ), true ) ) {
				// The sidecar's change is not in this database: nothing to finish.
				Plugin::log( 'warning', sprintf( 'refused %s for order %d: the change it reports is not in the database (order is %s)', $event_id, $order_id, $order->get_status() ), array( 'order_id' => $order_id ) );
				return new \WP_Error(
					'conflict',
					'paid' === $outcome && ! $order->has_status( wc_get_is_paid_statuses() ) ? 'the order is not paid in the database' : 'the change this event reports is not in the database',
					array( 'status' => 409 )
				);
			}
			$finished[] = $event_id;
			$finished   = array_slice( $finished, -self::KEEP );

			list( $from, $to ) = self::transition( $order, $event );
			$moves             = '' !== $from && '' !== $to && $from !== $to;
			if ( $moves && ! $order->has_status( $to ) ) {
				$this->left( $order, $event, $to );
				self::record( $order, $finished );
			} elseif ( $moves ) {
				self::$current = $event;
				try {
					$this->replay( $order, $event, $from, $to, $finished );
					Emails::payment_needs_attention( $order_id, $event, $from, $to );
				} finally {
					self::$current = null;
				}
			} else {
				// No status change (a note, a second underpayment): nothing of
				// WooCommerce's to replay; maybe something for the shop.
				self::$current = $event;
				try {
					Emails::payment_needs_attention( $order_id, $event, $from, $to );
				} finally {
					self::$current = null;
				}
				self::record( $order, $finished );
			}
			Plugin::log( 'info', sprintf( 'finished %s for order %d (%s, %s to %s)', $event_id, $order_id, $outcome, '' !== $from ? $from : '-', '' !== $to ? $to : '-' ), array( 'order_id' => $order_id ) );
			return true;
		} finally {
			$this->lock->release( $lock );
		}
	}

	/**
	 * Replay fires what WooCommerce fires when it moves an order from $from
	 * to $to itself: WC_Order::payment_complete() for a payment from a
	 * status it accepts payment in, WC_Order::update_status() otherwise. The
	 * order is saved where WooCommerce saves it (after
	 * woocommerce_pre_payment_complete, before the status hooks); that save
	 * records the event as finished, so a failure in a listener afterwards
	 * is not retried, as WooCommerce does not retry it either.
	 *
	 * @param \WC_Order $order    The order, freshly read, already in status $to.
	 * @param array     $event    The notification.
	 * @param string    $from     Status before, without "wc-".
	 * @param string    $to       Status after.
	 * @param string[]  $finished Finished event ids, this one included.
	 */
	protected function replay( $order, array $event, string $from, string $to, array $finished ): void {
		$id  = (int) $order->get_id();
		$txn = self::transaction_id( $event, $order );
		/** This filter is documented in WooCommerce's WC_Order::payment_complete(). */
		$payable = (array) apply_filters( 'woocommerce_valid_order_statuses_for_payment_complete', array( 'on-hold', 'pending', 'failed', 'cancelled' ), $order );
		$payment = 'paid' === $event['outcome'] && in_array( $from, $payable, true );
		$saved   = false;
		try {
			if ( $payment ) {
				/** This action is documented in WooCommerce's WC_Order::payment_complete(). */
				do_action( 'woocommerce_pre_payment_complete', $id, $txn );
			}
			self::record( $order, $finished );
			$saved = true;
			self::transition_hooks( $order, $from, $to, isset( $event['note_id'] ) && is_numeric( $event['note_id'] ) ? (int) $event['note_id'] : 0 );
			if ( $payment ) {
				/** This action is documented in WooCommerce's WC_Order::payment_complete(). */
				do_action( 'woocommerce_payment_complete', $id, $txn );
			}
		} catch ( \Exception $e ) {
			// As WooCommerce does: the status is changed; a listener's failure
			// is logged and noted, not retried (retrying would repeat the
			// listeners that did run, e-mails included).
			if ( ! $saved ) {
				// The save itself failed (the database): nothing was finished,
				// so the failure reaches the sidecar, which retries.
				throw $e;
			}
			Plugin::log( 'error', sprintf( 'a listener failed while finishing order %d (%s to %s): %s', $id, $from, $to, $e->getMessage() ), array( 'order_id' => $id ) );
			$order->add_order_note( __( 'Error while finishing the status change:', 'wcbridge' ) . ' ' . $e->getMessage() );
		}
		self::clear_post_counts( (string) $order->get_type() );
	}

	/**
	 * Record saves the finished event ids on the order: the save WooCommerce
	 * makes in its own status change (its hooks, its cache clearing).
	 *
	 * @param \WC_Order $order    The order.
	 * @param string[]  $finished Event ids.
	 */
	private static function record( $order, array $finished ): void {
		$order->update_meta_data( self::FINISHED_META, $finished );
		$order->save();
	}

	/**
	 * Transition_hooks fires the hooks of an order status change, as
	 * WooCommerce's WC_Order::status_transition() does after it saved one
	 * (read in WooCommerce 10.0; the note it adds was written by the sidecar).
	 *
	 * @param \WC_Order $order   The order.
	 * @param string    $from    Status before.
	 * @param string    $to      Status after.
	 * @param int       $note_id The order note of the change, 0 when none.
	 */
	public static function transition_hooks( $order, string $from, string $to, int $note_id = 0 ): void {
		$id         = (int) $order->get_id();
		$transition = array(
			'from'   => $from,
			'to'     => $to,
			'note'   => '',
			'manual' => false,
		);
		/** This action is documented in WooCommerce's WC_Order::status_transition(). */
		do_action( 'woocommerce_order_status_' . $to, $id, $order, $transition );
		if ( $note_id > 0 ) {
			// WooCommerce notes its change here (WC_Order::add_order_note()); the
			// sidecar wrote that note.
			/** This action is documented in WooCommerce's WC_Order::add_order_note(). */
			do_action( 'woocommerce_order_note_added', $note_id, $order );
		}
		/** This action is documented in WooCommerce's WC_Order::status_transition(). */
		do_action( 'woocommerce_order_status_' . $from . '_to_' . $to, $id, $order );
		/** This action is documented in WooCommerce's WC_Order::status_transition(). */
		do_action( 'woocommerce_order_status_changed', $id, $from, $to, $order );
		/** This filter is documented in WooCommerce's WC_Order::status_transition(). */
		$unpaid = (array) apply_filters( 'woocommerce_valid_order_statuses_for_payment', array( 'pending', 'failed' ), $order );
		if ( in_array( $from, $unpaid, true ) && in_array( $to, wc_get_is_paid_statuses(), true ) ) {
			/** This action is documented in WooCommerce's WC_Order::status_transition(). */
			do_action( 'woocommerce_order_payment_status_changed', $id, $order );
		}
	}

	/**
	 * Left handles an order that is no longer where the transition led (the
	 * shop, or WooCommerce itself, changed it before WordPress heard of the
	 * transition): nothing of the transition is finished. When the sidecar
	 * itself moved the order on since, the later event finishes it; otherwise
	 * the shop gets a private note and an e-mail.
	 *
	 * @param \WC_Order $order The order.
	 * @param array     $event The notification.
	 * @param string    $to    Where the transition led.
	 */
	protected function left( $order, array $event, string $to ): void {
		$id = (int) $order->get_id();
		self::clear_count_caches( (string) $order->get_type() );
		wc_delete_shop_order_transients( $order );
		if ( self::superseded( $order, (string) $event['event_id'] ) ) {
			Plugin::log( 'info', sprintf( '%s for order %d superseded by a later change of the sidecar; nothing to finish', $event['event_id'], $id ), array( 'order_id' => $id ) );
			return;
		}
		$now    = (string) $order->get_status();
		$note   = Emails::left_note( $order, $event, $to );
		$order->add_order_note( $note );
		Plugin::log( 'warning', sprintf( 'order %d is %s, not %s as %s left it: transition not finished', $id, $now, $to, $event['event_id'] ), array( 'order_id' => $id ) );
		Emails::order_moved( $id, $event, $to, $now );
	}

	/**
	 * Transition is the status change the event made: as recorded in the
	 * order's meta by the sidecar, else as the notification says.
	 *
	 * @param \WC_Order $order The order.
	 * @param array     $event The notification.
	 * @return array{0:string,1:string} from, to (without "wc-"); "" when unknown.
	 */
	public static function transition( $order, array $event ): array {
		foreach ( self::meta_values( $order, self::TRANSITION_META ) as $row ) {
			$parts = explode( ' ', $row );
			if ( 3 === count( $parts ) && $parts[0] === $event['event_id'] ) {
				return array( $parts[1], $parts[2] );
			}
		}
		$from = isset( $event['from_status'] ) && is_string( $event['from_status'] ) ? $event['from_status'] : '';
		$to   = isset( $event['to_status'] ) && is_string( $event['to_status'] ) ? $event['to_status'] : '';
		return array( self::unprefixed( $from ), self::unprefixed( $to ) );
	}

	/**
	 * Superseded reports whether the sidecar changed the order's status again
	 * after the event (its transition rows are kept in the order they were made).
	 *
	 * @param \WC_Order $order    The order.
	 * @param string    $event_id Event id.
	 */
	public static function superseded( $order, string $event_id ): bool {
		$seen = false;
		foreach ( self::meta_values( $order, self::TRANSITION_META ) as $row ) {
			$first = strtok( $row, ' ' );
			if ( $seen ) {
				return true;
			}
			$seen = $first === $event_id;
		}
		return false;
	}

	/**
	 * Meta_values lists every value of a multi-row meta key, in row order.
	 *
	 * @param \WC_Order $order The order.
	 * @param string    $key   Meta key.
	 * @return string[]
	 */
	public static function meta_values( $order, string $key ): array {
		$out = array();
		foreach ( (array) $order->get_meta( $key, false ) as $meta ) {
			$value = is_object( $meta ) ? $meta->value : $meta;
			if ( is_scalar( $value ) ) {
				$out[] = (string) $value;
			}
		}
		return $out;
	}

	/**
	 * Finished lists the event ids finished for the order.
	 *
	 * @param \WC_Order $order The order.
	 * @return string[]
	 */
	private static function finished( $order ): array {
		$finished = $order->get_meta( self::FINISHED_META, true );
		return is_array( $finished ) ? array_values( array_filter( $finished, 'is_string' ) ) : array();
	}

	/**
	 * Transaction_id is the event's transaction id, or the order's.
	 *
	 * @param array     $event The notification.
	 * @param \WC_Order $order The order.
	 */
	private static function transaction_id( array $event, $order ): string {
		if ( isset( $event['transaction_id'] ) && is_string( $event['transaction_id'] ) && '' !== $event['transaction_id'] ) {
			return $event['transaction_id'];
		}
		return (string) $order->get_transaction_id();
	}

	/**
	 * Unprefixed drops WooCommerce's "wc-" status prefix.
	 *
	 * @param string $status Status.
	 */
	private static function unprefixed( string $status ): string {
		return 0 === strpos( $status, 'wc-' ) ? substr( $status, 3 ) : $status;
	}

	/**
	 * Clear_order_caches drops everything WordPress and WooCommerce cache
	 * about the order, so the sidecar's direct database write is seen, with
	 * or without a persistent object cache: WooCommerce's order object cache,
	 * the HPOS data-store caches of WooCommerce 10, the order's meta cache,
	 * the post caches and the order's transients.
	 *
	 * @param int  $order_id   Order id.
	 * @param bool $transients Also the order's transients (reports, the
	 *                         customer's totals); the save that finishes a
	 *                         transition clears them itself.
	 */
	public static function clear_order_caches( int $order_id, bool $transients = true ): void {
		$container = function_exists( 'wc_get_container' ) ? wc_get_container() : null;
		$caches    = array(
			'Automattic\WooCommerce\Caches\OrderCache' => 'remove',
			'Automattic\WooCommerce\Internal\DataStores\Orders\OrdersTableDataStore' => 'clear_cached_data',
			'Automattic\WooCommerce\Internal\DataStores\Orders\OrdersTableDataStoreMeta' => 'clear_cached_data',
		);
		foreach ( $caches as $class => $method ) {
			if ( null === $container || ! class_exists( $class ) || ! method_exists( $class, $method ) ) {
				continue;
			}
			try {
				$service = $container->get( $class );
				if ( 'remove' === $method ) {
					$service->remove( $order_id );
				} else {
					$service->clear_cached_data( array( $order_id ) );
				}
			} catch ( \Throwable $e ) {
				Plugin::log( 'warning', 'could not clear a WooCommerce order cache (' . $class . '): ' . $e->getMessage(), array( 'order_id' => $order_id ) );
			}
		}
		if ( class_exists( 'WC_Cache_Helper' ) ) {
			// The prefix of the order's meta cache keys (WC_Data::generate_meta_cache_key()).
			\WC_Cache_Helper::invalidate_cache_group( 'object_' . $order_id );
		}
		clean_post_cache( $order_id );
		wp_cache_delete( 'order-items-' . $order_id, 'orders' );
		if ( $transients ) {
			// Last: it loads the order, which must not come from a stale cache.
			wc_delete_shop_order_transients( $order_id );
		}
	}

	/**
	 * Clear_count_caches drops the cached order counts of an order type
	 * when the sidecar's status change is not replayed: WooCommerce keeps
	 * them current from woocommerce_order_status_changed, which then does not
	 * fire for the sidecar's change.
	 *
	 * @param string $type Order type, e.g. shop_order.
	 */
	public static function clear_count_caches( string $type ): void {
		$class = 'Automattic\WooCommerce\Caches\OrderCountCache';
		if ( class_exists( $class ) ) {
			try {
				( new $class() )->flush( $type );
			} catch ( \Throwable $e ) {
				Plugin::log( 'warning', 'could not clear the order counts: ' . $e->getMessage() );
			}
		}
		self::clear_post_counts( $type );
	}

	/**
	 * Clear_post_counts drops wp_count_posts()'s cache for the order type,
	 * which WordPress clears when a post changes status through its own API
	 * (posts storage), never for the sidecar's SQL write.
	 *
	 * @param string $type Order type.
	 */
	public static function clear_post_counts( string $type ): void {
		if ( function_exists( '_count_posts_cache_key' ) ) {
			wp_cache_delete( _count_posts_cache_key( $type ), 'counts' );
			wp_cache_delete( _count_posts_cache_key( $type, 'readable' ), 'counts' );
		}
	}
}
