<?php

declare(strict_types=1);

use PHPUnit\Framework\TestCase;
use WCBridge\Signer;

final class SignerTest extends TestCase {
	// The vector in docs/plugin-api.md; the sidecar tests the same one.
	private const SECRET = 'wcbridge-test-secret-0123456789abcdef';
	private const ID     = '7f8c1e2a9b3d4c5e6f708192a3b4c5d6';
	private const BODY   = '{"order_id":123,"gateway":"streampay"}';
	private const SIG    = 'v2=e23cadb1f81a4ec45312e3bec135dd8e91f1615f361b4b3cbed27b3b8f559046';

	public function test_contract_vector(): void {
		$this->assertSame( self::SIG, Signer::signature( self::SECRET, 1766300000, self::ID, 'POST', '/v1/checkout', self::BODY ) );
		$this->assertSame( self::SIG, Signer::signature( self::SECRET, '1766300000', self::ID, 'post', '/v1/checkout', self::BODY ), 'method is upper-cased' );
		$h = Signer::headers( self::SECRET, 'POST', '/v1/checkout', self::BODY, 1766300000, self::ID );
		$this->assertSame( array( 'X-WCBridge-Timestamp' => '1766300000', 'X-WCBridge-Request-Id' => self::ID, 'X-WCBridge-Signature' => self::SIG ), $h );
	}

	public function test_headers_carry_a_fresh_request_id(): void {
		$a = Signer::headers( self::SECRET, 'POST', '/v1/checkout', self::BODY, 1766300000 );
		$b = Signer::headers( self::SECRET, 'POST', '/v1/checkout', self::BODY, 1766300000 );
		$this->assertNotSame( $a['X-WCBridge-Request-Id'], $b['X-WCBridge-Request-Id'] );
		$this->assertMatchesRegularExpression( Signer::REQUEST_ID_PATTERN, $a['X-WCBridge-Request-Id'] );
		$this->assertTrue( Signer::verify( self::SECRET, $a['X-WCBridge-Timestamp'], $a['X-WCBridge-Request-Id'], $a['X-WCBridge-Signature'], 'POST', '/v1/checkout', self::BODY, 1766300000 ) );
	}

	/** @dataProvider cases */
	public function test_verify( string $name, ?string $ts, ?string $id, ?string $sig, string $method, string $path, string $body, int $now, bool $want ): void {
		$this->assertSame( $want, Signer::verify( self::SECRET, $ts, $id, $sig, $method, $path, $body, $now ), $name );
	}

	public function cases(): array {
		$t = 1766300000;
		$i = self::ID;
		return array(
			array( 'valid', (string) $t, $i, self::SIG, 'POST', '/v1/checkout', self::BODY, $t, true ),
			array( 'valid upper-case hex', (string) $t, $i, strtoupper( self::SIG ), 'POST', '/v1/checkout', self::BODY, $t, true ),
			array( 'valid at +300s', (string) $t, $i, self::SIG, 'POST', '/v1/checkout', self::BODY, $t + 300, true ),
			array( 'valid at -300s (receiver clock behind)', (string) $t, $i, self::SIG, 'POST', '/v1/checkout', self::BODY, $t - 300, true ),
			array( 'stale: 301s old', (string) $t, $i, self::SIG, 'POST', '/v1/checkout', self::BODY, $t + 301, false ),
			array( 'from the future: 301s ahead', (string) $t, $i, self::SIG, 'POST', '/v1/checkout', self::BODY, $t - 301, false ),
			array( 'tampered body', (string) $t, $i, self::SIG, 'POST', '/v1/checkout', '{"order_id":124,"gateway":"streampay"}', $t, false ),
			array( 'body with extra space', (string) $t, $i, self::SIG, 'POST', '/v1/checkout', self::BODY . ' ', $t, false ),
			array( 'tampered timestamp', (string) ( $t + 1 ), $i, self::SIG, 'POST', '/v1/checkout', self::BODY, $t, false ),
			array( 'other request id', (string) $t, '00000000000000000000000000000000', self::SIG, 'POST', '/v1/checkout', self::BODY, $t, false ),
			array( 'other path', (string) $t, $i, self::SIG, 'POST', '/v1/checkout?x=1', self::BODY, $t, false ),
			array( 'other method', (string) $t, $i, self::SIG, 'PUT', '/v1/checkout', self::BODY, $t, false ),
			array( 'missing signature', (string) $t, $i, null, 'POST', '/v1/checkout', self::BODY, $t, false ),
			array( 'missing timestamp', null, $i, self::SIG, 'POST', '/v1/checkout', self::BODY, $t, false ),
			array( 'missing request id', (string) $t, null, self::SIG, 'POST', '/v1/checkout', self::BODY, $t, false ),
			array( 'short request id', (string) $t, 'abc', self::SIG, 'POST', '/v1/checkout', self::BODY, $t, false ),
			array( 'non-numeric timestamp', '1766300000.0', $i, self::SIG, 'POST', '/v1/checkout', self::BODY, $t, false ),
			array( 'no v2= prefix', (string) $t, $i, substr( self::SIG, 3 ), 'POST', '/v1/checkout', self::BODY, $t, false ),
			array( 'a v1 signature (no request id inside)', (string) $t, $i, 'v1=e339ace4d3299a7df5a8ea3d1f5de4fc2cf2c50de59b35a106d8eaa7f5f181ca', 'POST', '/v1/checkout', self::BODY, $t, false ),
		);
	}

	public function test_empty_secret_never_verifies(): void {
		$sig = Signer::signature( '', 1766300000, self::ID, 'POST', '/', '' );
		$this->assertFalse( Signer::verify( '', '1766300000', self::ID, $sig, 'POST', '/', '', 1766300000 ) );
	}

	public function test_weak_secrets_refused(): void {
		foreach ( array(
			'short'                => 'd41d8cd98f00b204e980',
			'config example'       => 'change-me-to-a-long-random-string-of-32+-chars',
			'documentation vector' => self::SECRET,
			'one character'        => str_repeat( 'a', 64 ),
			'sequence'             => 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ',
			'repeated pattern'     => str_repeat( '0a1b', 16 ),
		) as $name => $secret ) {
			$this->assertStringContainsString( 'openssl rand -hex 32', Signer::secret_problem( $secret ), $name );
		}
		foreach ( array( '9f86d081884c7d659a2feaa0c55ad015', 'q8V3l0wS9m6Zr+2YtKx1bQ7dHc4N5eJfUaPgLiRoT0E=', FakeSidecar::SECRET ) as $good ) {
			$this->assertSame( '', Signer::secret_problem( $good ), $good );
		}
	}
}
