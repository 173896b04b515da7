<?php
/**
 * REST route the sidecar notifies: POST /wp-json/wcbridge/v1/notify.
 *
 * @package WCBridge
 */

declare(strict_types=1);

namespace WCBridge;

defined( 'ABSPATH' ) || exit;

/**
 * Notify_Endpoint verifies the sidecar's signature and hands the event to the Finisher.
 */
final class Notify_Endpoint {

	/**
	 * Seconds a batch request finishes events before it answers the rest
	 * "retry" (at least one is always finished).
	 *
	 * @var float
	 */
	public static $batch_seconds = 7.0;

	/**
	 * Finisher override for tests.
	 *
	 * @var Finisher|null
	 */
	public static $finisher = null;

	/**
	 * Replay guard override for tests.
	 *
	 * @var Replay_Guard|null
	 */
	public static $guard = null;

	/**
	 * Register adds the route.
	 */
	public static function register(): void {
		register_rest_route(
			'wcbridge/v1',
			'/notify',
			array(
				'methods'             => 'POST',
				'callback'            => array( self::class, 'handle' ),
				'permission_callback' => array( self::class, 'permission' ),
			)
		);
	}

	/**
	 * Permission verifies the signature over the raw body, with the timestamp
	 * window, and refuses a request id received before (401 replayed): a
	 * captured notification cannot be sent again.
	 *
	 * @param \WP_REST_Request $request Request.
	 * @return true|\WP_Error
	 */
	public static function permission( $request ) {
		$secret  = Settings::shared_secret();
		$problem = Signer::secret_problem( $secret );
		if ( '' !== $problem ) {
			Plugin::log( 'warning', 'notify: refused: the shared secret is not usable: ' . $problem );
			return new \WP_Error( 'unauthorized', 'the shared secret is not set or not usable', array( 'status' => 401 ) );
		}
		$ts  = $request->get_header( 'X-WCBridge-Timestamp' );
		$rid = $request->get_header( 'X-WCBridge-Request-Id' );
		$ok  = Signer::verify(
			$secret,
			$ts,
			$rid,
			$request->get_header( 'X-WCBridge-Signature' ),
			$request->get_method(),
			self::signed_path(),
			(string) $request->get_body(),
			time()
		);
		if ( ! $ok ) {
			Plugin::log( 'warning', 'notify: rejected a request with a missing, wrong or stale signature' );
			return new \WP_Error( 'unauthorized', 'signature missing, wrong or outside the time window', array( 'status' => 401 ) );
		}
		$fresh = ( self::$guard ?? new Replay_Guard() )->first_time( (string) $rid, (int) $ts + Signer::WINDOW, time() );
		if ( null === $fresh ) {
			return new \WP_Error( 'unavailable', 'could not check the request id; retry later', array( 'status' => 503 ) );
		}
		if ( ! $fresh ) {
			Plugin::log( 'warning', 'notify: refused a request id received before (replayed)' );
			return new \WP_Error( 'replayed', 'request already received (replayed)', array( 'status' => 401 ) );
		}
		return true;
	}

	/**
	 * Signed_path is the path with query string exactly as the sidecar sent it
	 * (it includes a sub-directory install and "?rest_route=" on sites without
	 * pretty permalinks).
	 */
	public static function signed_path(): string {
		// phpcs:ignore WordPress.Security.ValidatedSanitizedInput.InputNotSanitized -- compared byte for byte in the HMAC.
		return isset( $_SERVER['REQUEST_URI'] ) ? (string) wp_unslash( $_SERVER['REQUEST_URI'] ) : '';
	}

	/**
	 * Handle finishes the event.
	 *
	 * @param \WP_REST_Request $request Request.
	 * @return \WP_REST_Response|\WP_Error
	 */
	public static function handle( $request ) {
		$event = json_decode( (string) $request->get_body(), true );
		if ( ! is_array( $event ) ) {
			return new \WP_Error( 'invalid', 'the body is not a JSON object', array( 'status' => 400 ) );
		}
		if ( isset( $event['events'] ) && is_array( $event['events'] ) && array_keys( $event['events'] ) === range( 0, count( $event['events'] ) - 1 ) ) {
			return self::handle_batch( $event['events'] );
		}
		$result = self::finish_one( $event );
		if ( is_wp_error( $result ) ) {
			return $result;
		}
		return new \WP_REST_Response(
			array(
				'ok'       => true,
				'finished' => (bool) $result,
			),
			200
		);
	}

	/**
	 * Handle_batch finishes the events of {"events": [...]} in order and
	 * answers for each. Events still waiting when the request has run for
	 * $batch_seconds are answered 503 (the sidecar sends them again), so the
	 * answer comes well within the sidecar's 10-second timeout.
	 *
	 * @param array $events Decoded events.
	 * @return \WP_REST_Response
	 */
	private static function handle_batch( array $events ) {
		$start   = microtime( true );
		$results = array();
		foreach ( $events as $event ) {
			$id = is_array( $event ) && isset( $event['event_id'] ) && is_string( $event['event_id'] ) ? $event['event_id'] : '';
			if ( array() !== $results && microtime( true ) - $start > self::$batch_seconds ) {
				$result = new \WP_Error( 'unavailable', 'not finished in this request; retry', array( 'status' => 503 ) );
			} else {
				$result = is_array( $event ) ? self::finish_one( $event ) : new \WP_Error( 'invalid', 'an event is not a JSON object', array( 'status' => 400 ) );
			}
			if ( is_wp_error( $result ) ) {
				$data      = $result->get_error_data();
				$results[] = array(
					'event_id' => $id,
					'ok'       => false,
					'status'   => is_array( $data ) ? (int) ( $data['status'] ?? 500 ) : 500,
					'code'     => (string) $result->get_error_code(),
					'message'  => (string) $result->get_error_message(),
				);
				continue;
			}
			$results[] = array(
				'event_id' => $id,
				'ok'       => true,
				'finished' => (bool) $result,
			);
		}
		return new \WP_REST_Response(
			array(
				'ok'      => true,
				'results' => $results,
			),
			200
		);
	}

	/**
	 * Finish_one finishes one event; a throwable becomes "retry later".
	 *
	 * @param array $event Decoded event.
	 * @return bool|\WP_Error
	 */
	private static function finish_one( array $event ) {
		$finisher = self::$finisher ?? new Finisher();
		try {
			return $finisher->finish( $event );
		} catch ( \Throwable $e ) {
			Plugin::log( 'error', 'notify: finishing failed: ' . $e->getMessage(), array( 'order_id' => (int) ( $event['order_id'] ?? 0 ) ) );
			return new \WP_Error( 'unavailable', 'finishing the order failed; retry later', array( 'status' => 503 ) );
		}
	}
}

/**
 * Replay_Guard remembers the request ids of the sidecar's notifications
 * until their signature expires, in one option guarded by a MySQL named
 * lock, so a request id is accepted once across PHP processes. The option
 * holds only ids still within the signature window (at most MAX).
 */
final class Replay_Guard {

	public const OPTION = 'wcbridge_notify_request_ids';
	/** Most ids kept: far more than the sidecar sends within a window. */
	private const MAX = 10000;

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
	 * First_time records $id until $expires and tells whether it is new;
	 * null when the lock could not be had (answer "retry later").
	 *
	 * @param string $id      Request id.
	 * @param int    $expires Unix seconds after which the signature is refused anyway.
	 * @param int    $now     Unix seconds.
	 */
	public function first_time( string $id, int $expires, int $now ): ?bool {
		if ( ! $this->lock->acquire( 'wcbridge_notify_ids', 5 ) ) {
			return null;
		}
		try {
			// What another PHP process wrote, not this request's cached copy.
			wp_cache_delete( self::OPTION, 'options' );
			$ids = get_option( self::OPTION, array() );
			$ids = is_array( $ids ) ? $ids : array();
			foreach ( $ids as $k => $exp ) {
				if ( (int) $exp < $now ) {
					unset( $ids[ $k ] );
				}
			}
			if ( isset( $ids[ $id ] ) ) {
				return false;
			}
			$ids[ $id ] = $expires;
			if ( count( $ids ) > self::MAX ) {
				asort( $ids );
				$ids = array_slice( $ids, -self::MAX, null, true );
			}
			update_option( self::OPTION, $ids, false );
			return true;
		} finally {
			$this->lock->release( 'wcbridge_notify_ids' );
		}
	}
}
