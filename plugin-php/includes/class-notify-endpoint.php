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
	 * Finisher override for tests.
	 *
	 * @var Finisher|null
	 */
	public static $finisher = null;

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
	 * Permission verifies the signature over the raw body, with the timestamp window.
	 *
	 * @param \WP_REST_Request $request Request.
	 * @return true|\WP_Error
	 */
	public static function permission( $request ) {
		$ok = Signer::verify(
			Settings::shared_secret(),
			$request->get_header( 'X-WCBridge-Timestamp' ),
			$request->get_header( 'X-WCBridge-Signature' ),
			$request->get_method(),
			self::signed_path(),
			(string) $request->get_body(),
			time()
		);
		if ( $ok ) {
			return true;
		}
		Plugin::log( 'warning', 'notify: rejected a request with a missing, wrong or stale signature' );
		return new \WP_Error( 'unauthorized', 'signature missing, wrong or outside the time window', array( 'status' => 401 ) );
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
		$finisher = self::$finisher ?? new Finisher();
		try {
			$result = $finisher->finish( $event );
		} catch ( \Throwable $e ) {
			Plugin::log( 'error', 'notify: finishing failed: ' . $e->getMessage(), array( 'order_id' => (int) ( $event['order_id'] ?? 0 ) ) );
			return new \WP_Error( 'unavailable', 'finishing the order failed; retry later', array( 'status' => 503 ) );
		}
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
}
