<?php
/**
 * HTTP client for the sidecar's plugin API.
 *
 * @package WCBridge
 */

declare(strict_types=1);

namespace WCBridge;

defined( 'ABSPATH' ) || exit;

/**
 * Client sends signed JSON requests to the sidecar and turns its error shape
 * ({"error": {"code", "message", "fields"}}) into WP_Error.
 */
class Client {

	/**
	 * Sidecar base URL, e.g. http://127.0.0.1:8080.
	 *
	 * @var string
	 */
	private $base_url;

	/**
	 * Shared secret.
	 *
	 * @var string
	 */
	private $secret;

	/**
	 * Seconds to wait for an answer.
	 *
	 * @var int
	 */
	private $timeout;

	/**
	 * Constructor.
	 *
	 * @param string $base_url Sidecar base URL.
	 * @param string $secret   Shared secret.
	 * @param int    $timeout  Seconds.
	 */
	public function __construct( string $base_url, string $secret, int $timeout = 10 ) {
		$this->base_url = untrailingslashit( $base_url );
		$this->secret   = $secret;
		$this->timeout  = $timeout;
	}

	/**
	 * From_settings builds a client from the plugin's settings.
	 *
	 * @param int $timeout Seconds.
	 */
	public static function from_settings( int $timeout = 10 ): self {
		return new self( Settings::sidecar_url(), Settings::shared_secret(), $timeout );
	}

	/**
	 * Is_configured tells whether the sidecar URL and secret are set.
	 */
	public function is_configured(): bool {
		return '' !== $this->base_url && '' !== $this->secret;
	}

	/** POST /v1/checkout. */
	public function checkout( array $body ) {
		return $this->request( 'POST', '/v1/checkout', $body );
	}

	/** GET /v1/orders/{id}/payment. */
	public function order_payment( int $order_id ) {
		return $this->request( 'GET', '/v1/orders/' . $order_id . '/payment' );
	}

	/** POST /v1/orders/{id}/recheck. */
	public function recheck( int $order_id ) {
		return $this->request( 'POST', '/v1/orders/' . $order_id . '/recheck', new \stdClass() );
	}

	/**
	 * GET /v1/status.
	 *
	 * @param bool $probe Ask each gateway whether it answers (slow); without,
	 *                    only the configuration is reported.
	 */
	public function status( bool $probe = true ) {
		return $this->request( 'GET', $probe ? '/v1/status' : '/v1/status?probe=0' );
	}

	/**
	 * POST /v1/orders/{id}/cancel-payments: the order will not be paid
	 * through wcbridge any more.
	 *
	 * @param int $order_id Order id.
	 */
	public function cancel_payments( int $order_id ) {
		return $this->request( 'POST', '/v1/orders/' . $order_id . '/cancel-payments', new \stdClass() );
	}

	/** GET /v1/settings. */
	public function get_settings() {
		return $this->request( 'GET', '/v1/settings' );
	}

	/**
	 * PUT /v1/settings.
	 *
	 * @param array $values  Dotted key => value.
	 * @param bool  $dry_run Validate only: the sidecar stores nothing.
	 */
	public function put_settings( array $values, bool $dry_run = false ) {
		$body = array( 'settings' => (object) $values );
		if ( $dry_run ) {
			$body['dry_run'] = true;
		}
		return $this->request( 'PUT', '/v1/settings', $body );
	}

	/**
	 * Request sends one signed request.
	 *
	 * @param string     $method HTTP method.
	 * @param string     $path   Path under the base URL, starting with "/".
	 * @param mixed|null $body   Value to encode as JSON, or null for no body.
	 * @return array|\WP_Error Decoded JSON answer, or an error whose code is the
	 *                         sidecar's error code ("unreachable" when no answer).
	 */
	public function request( string $method, string $path, $body = null ) {
		if ( ! $this->is_configured() ) {
			return new \WP_Error( 'not_configured', __( 'The wcbridge sidecar URL or shared secret is not set.', 'wcbridge' ), array( 'status' => 0 ) );
		}
		$problem = Signer::secret_problem( $this->secret );
		if ( '' !== $problem ) {
			return new \WP_Error( 'not_configured', $problem, array( 'status' => 0 ) );
		}
		$url      = $this->base_url . $path;
		$raw      = null === $body ? '' : (string) wp_json_encode( $body );
		$url_path = (string) wp_parse_url( $url, PHP_URL_PATH );
		$query    = wp_parse_url( $url, PHP_URL_QUERY );
		$signed   = $url_path . ( null !== $query && '' !== $query ? '?' . $query : '' );
		$headers  = Signer::headers( $this->secret, $method, $signed, $raw, time() );

		$headers['Accept'] = 'application/json';
		if ( null !== $body ) {
			$headers['Content-Type'] = 'application/json';
		}
		$args = array(
			'method'      => $method,
			'headers'     => $headers,
			'timeout'     => $this->timeout,
			'redirection' => 0,
		);
		if ( null !== $body ) {
			$args['body'] = $raw;
		}

		$response = wp_remote_request( $url, $args );
		if ( is_wp_error( $response ) ) {
			return new \WP_Error(
				'unreachable',
				/* translators: %s: the HTTP library's error message */
				sprintf( __( 'The wcbridge sidecar did not answer: %s', 'wcbridge' ), $response->get_error_message() ),
				array( 'status' => 0 )
			);
		}

		$status  = (int) wp_remote_retrieve_response_code( $response );
		$decoded = json_decode( (string) wp_remote_retrieve_body( $response ), true );
		if ( $status >= 200 && $status < 300 && is_array( $decoded ) ) {
			return $decoded;
		}
		if ( is_array( $decoded ) && isset( $decoded['error']['code'] ) ) {
			return new \WP_Error(
				(string) $decoded['error']['code'],
				isset( $decoded['error']['message'] ) ? (string) $decoded['error']['message'] : '',
				array(
					'status' => $status,
					'fields' => isset( $decoded['error']['fields'] ) && is_array( $decoded['error']['fields'] ) ? $decoded['error']['fields'] : array(),
				)
			);
		}
		return new \WP_Error(
			'bad_response',
			/* translators: %d: HTTP status code */
			sprintf( __( 'The wcbridge sidecar answered with HTTP %d and no usable JSON.', 'wcbridge' ), $status ),
			array( 'status' => $status )
		);
	}
}
