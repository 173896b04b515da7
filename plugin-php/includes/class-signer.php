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
 * Signer computes and verifies the signing headers (timestamp, request id,
 * signature) and judges whether a shared secret is usable.
 */
final class Signer {

	/** Seconds a timestamp may be away from our clock, both ways. */
	public const WINDOW = 300;

	/** What a request id may look like (a UUID or 32 hex characters fit). */
	public const REQUEST_ID_PATTERN = '/^[A-Za-z0-9_-]{16,64}$/';

	/**
	 * Published placeholders and words only a placeholder contains: a secret
	 * anyone can read in an example is no secret. The sidecar refuses the
	 * same ones.
	 */
	private const PLACEHOLDERS = array(
		'change-me',
		'changeme',
		'change_me',
		'replace-me',
		'replaceme',
		'replace_me',
		'your-secret',
		'your_secret',
		'yoursecret',
		'placeholder',
		'example',
		'wcbridge-test-secret',
		'not-a-secret',
		'xxxxxxxx',
	);

	/**
	 * Request_id returns a fresh random request id.
	 */
	public static function request_id(): string {
		return bin2hex( random_bytes( 16 ) );
	}

	/**
	 * Signature returns "v2=" plus the hex HMAC-SHA256 of the string to sign:
	 * timestamp, request id, method, path and body, joined by line feeds.
	 *
	 * @param string     $secret     Shared secret.
	 * @param int|string $timestamp  Unix seconds.
	 * @param string     $request_id X-WCBridge-Request-Id.
	 * @param string     $method     HTTP method.
	 * @param string     $path       Path with query string exactly as sent.
	 * @param string     $body       Raw body.
	 */
	public static function signature( string $secret, $timestamp, string $request_id, string $method, string $path, string $body ): string {
		$payload = $timestamp . "\n" . $request_id . "\n" . strtoupper( $method ) . "\n" . $path . "\n" . $body;
		return 'v2=' . hash_hmac( 'sha256', $payload, $secret );
	}

	/**
	 * Headers returns the three signing headers for a request sent now, with
	 * a fresh request id unless one is given.
	 *
	 * @param string      $secret     Shared secret.
	 * @param string      $method     HTTP method.
	 * @param string      $path       Path with query string.
	 * @param string      $body       Raw body.
	 * @param int         $now        Unix seconds.
	 * @param string|null $request_id Request id (tests); null: a fresh one.
	 * @return array<string,string>
	 */
	public static function headers( string $secret, string $method, string $path, string $body, int $now, ?string $request_id = null ): array {
		$id = $request_id ?? self::request_id();
		return array(
			'X-WCBridge-Timestamp'  => (string) $now,
			'X-WCBridge-Request-Id' => $id,
			'X-WCBridge-Signature'  => self::signature( $secret, $now, $id, $method, $path, $body ),
		);
	}

	/**
	 * Verify checks a received signature over the raw bytes, in constant time,
	 * and refuses timestamps outside the window and malformed request ids.
	 * Whether the request id was seen before is the caller's to check.
	 *
	 * @param string      $secret     Shared secret.
	 * @param string|null $timestamp  X-WCBridge-Timestamp as received.
	 * @param string|null $request_id X-WCBridge-Request-Id as received.
	 * @param string|null $signature  X-WCBridge-Signature as received.
	 * @param string      $method     HTTP method.
	 * @param string      $path       Path with query string as received.
	 * @param string      $body       Raw body as received.
	 * @param int         $now        Unix seconds.
	 */
	public static function verify( string $secret, ?string $timestamp, ?string $request_id, ?string $signature, string $method, string $path, string $body, int $now ): bool {
		if ( '' === $secret || null === $timestamp || null === $request_id || null === $signature ) {
			return false;
		}
		if ( ! preg_match( '/^[0-9]{1,12}$/', $timestamp ) || ! preg_match( self::REQUEST_ID_PATTERN, $request_id ) ) {
			return false;
		}
		if ( abs( $now - (int) $timestamp ) > self::WINDOW ) {
			return false;
		}
		return hash_equals( self::signature( $secret, $timestamp, $request_id, $method, $path, $body ), strtolower( trim( $signature ) ) );
	}

	/**
	 * Secret_problem says why a shared secret is not usable, or returns "":
	 * at least 32 characters, no published placeholder, and not guessable
	 * (the same rules as the sidecar's: enough entropy from enough different
	 * characters, not mostly a run or a sequence, not a short pattern
	 * repeated).
	 *
	 * @param string $secret Shared secret.
	 */
	public static function secret_problem( string $secret ): string {
		$hint = __( 'make one with `openssl rand -hex 32` and set the same value in the sidecar', 'wcbridge' );
		if ( strlen( $secret ) < 32 ) {
			/* translators: 1: length, 2: how to make a secret */
			return sprintf( __( 'The shared secret must be at least 32 characters (it has %1$d); %2$s.', 'wcbridge' ), strlen( $secret ), $hint );
		}
		$lower = strtolower( $secret );
		foreach ( self::PLACEHOLDERS as $p ) {
			if ( false !== strpos( $lower, $p ) ) {
				/* translators: %s: how to make a secret */
				return sprintf( __( 'The shared secret is a placeholder from an example, not a secret; %s.', 'wcbridge' ), $hint );
			}
		}
		if ( self::entropy_bits( $secret ) < 100 || count( array_unique( str_split( $secret ) ) ) < 8 || self::sequential( $secret ) || self::periodic( $secret ) ) {
			/* translators: %s: how to make a secret */
			return sprintf( __( 'The shared secret is too easy to guess; %s.', 'wcbridge' ), $hint );
		}
		return '';
	}

	/**
	 * Entropy_bits estimates the information in $s from its byte frequencies.
	 *
	 * @param string $s Text.
	 */
	private static function entropy_bits( string $s ): float {
		$n = strlen( $s );
		$h = 0.0;
		foreach ( count_chars( $s, 1 ) as $c ) {
			$p  = $c / $n;
			$h -= $p * log( $p, 2 );
		}
		return $h * $n;
	}

	/**
	 * Sequential reports whether more than half of the bytes repeat or
	 * continue their predecessor by one ("aaaa", "abcd", "0123").
	 *
	 * @param string $s Text.
	 */
	private static function sequential( string $s ): bool {
		$steps = 0;
		$n     = strlen( $s );
		for ( $i = 1; $i < $n; $i++ ) {
			if ( abs( ord( $s[ $i ] ) - ord( $s[ $i - 1 ] ) ) <= 1 ) {
				++$steps;
			}
		}
		return $steps * 2 > $n;
	}

	/**
	 * Periodic reports whether $s is one short pattern repeated.
	 *
	 * @param string $s Text.
	 */
	private static function periodic( string $s ): bool {
		$n = strlen( $s );
		for ( $p = 1; $p <= intdiv( $n, 2 ); $p++ ) {
			if ( substr( str_repeat( substr( $s, 0, $p ), intdiv( $n, $p ) + 1 ), 0, $n ) === $s ) {
				return true;
			}
		}
		return false;
	}
}
