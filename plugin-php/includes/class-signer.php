<?php
/**
 * Request signing shared by both directions (docs/plugin-api.md, "Signing").
 *
 * @package WCBridge
 */

declare(strict_types=1);

namespace WCBridge;

defined( 'ABSPATH' ) || exit;

/**
 * Signer computes and verifies the X-WCBridge-Signature header.
 */
final class Signer {

	/** Seconds a timestamp may be away from our clock, both ways. */
	public const WINDOW = 300;

	/**
	 * Signature returns "v1=" plus the hex HMAC-SHA256 of the string to sign.
	 *
	 * @param string     $secret    Shared secret.
	 * @param int|string $timestamp Unix seconds.
	 * @param string     $method    HTTP method.
	 * @param string     $path      Path with query string exactly as sent.
	 * @param string     $body      Raw body.
	 */
	public static function signature( string $secret, $timestamp, string $method, string $path, string $body ): string {
		$payload = $timestamp . "\n" . strtoupper( $method ) . "\n" . $path . "\n" . $body;
		return 'v1=' . hash_hmac( 'sha256', $payload, $secret );
	}

	/**
	 * Headers returns the two signing headers for a request sent now.
	 *
	 * @param string $secret Shared secret.
	 * @param string $method HTTP method.
	 * @param string $path   Path with query string.
	 * @param string $body   Raw body.
	 * @param int    $now    Unix seconds.
	 * @return array<string,string>
	 */
	public static function headers( string $secret, string $method, string $path, string $body, int $now ): array {
		return array(
			'X-WCBridge-Timestamp' => (string) $now,
			'X-WCBridge-Signature' => self::signature( $secret, $now, $method, $path, $body ),
		);
	}

	/**
	 * Verify checks a received signature over the raw bytes, in constant time,
	 * and refuses timestamps outside the window.
	 *
	 * @param string      $secret    Shared secret.
	 * @param string|null $timestamp X-WCBridge-Timestamp as received.
	 * @param string|null $signature X-WCBridge-Signature as received.
	 * @param string      $method    HTTP method.
	 * @param string      $path      Path with query string as received.
	 * @param string      $body      Raw body as received.
	 * @param int         $now       Unix seconds.
	 */
	public static function verify( string $secret, ?string $timestamp, ?string $signature, string $method, string $path, string $body, int $now ): bool {
		if ( '' === $secret || null === $timestamp || null === $signature ) {
			return false;
		}
		if ( ! preg_match( '/^[0-9]{1,12}$/', $timestamp ) ) {
			return false;
		}
		if ( abs( $now - (int) $timestamp ) > self::WINDOW ) {
			return false;
		}
		return hash_equals( self::signature( $secret, $timestamp, $method, $path, $body ), trim( $signature ) );
	}
}
