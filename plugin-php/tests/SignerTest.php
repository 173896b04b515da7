<?php
declare(strict_types=1);

use PHPUnit\Framework\TestCase;
use WCBridge\Signer;

final class SignerTest extends TestCase {
	private const SECRET = 'wcbridge-test-secret-0123456789abcdef';
	private const BODY   = '{"order_id":123,"gateway":"streampay"}';
	private const SIG    = 'v1=e339ace4d3299a7df5a8ea3d1f5de4fc2cf2c50de59b35a106d8eaa7f5f181ca';

	public function test_contract_vector(): void {
		$this->assertSame( self::SIG, Signer::signature( self::SECRET, 1766300000, 'POST', '/v1/checkout', self::BODY ) );
		$this->assertSame( self::SIG, Signer::signature( self::SECRET, '1766300000', 'post', '/v1/checkout', self::BODY ), 'method is upper-cased' );
		$h = Signer::headers( self::SECRET, 'POST', '/v1/checkout', self::BODY, 1766300000 );
		$this->assertSame( array( 'X-WCBridge-Timestamp' => '1766300000', 'X-WCBridge-Signature' => self::SIG ), $h );
	}

	/** @dataProvider cases */
	public function test_verify( string $name, ?string $ts, ?string $sig, string $method, string $path, string $body, int $now, bool $want ): void {
		$this->assertSame( $want, Signer::verify( self::SECRET, $ts, $sig, $method, $path, $body, $now ), $name );
	}

	public function cases(): array {
		$t = 1766300000;
		return array(
			array( 'valid', (string) $t, self::SIG, 'POST', '/v1/checkout', self::BODY, $t, true ),
			array( 'valid at +300s', (string) $t, self::SIG, 'POST', '/v1/checkout', self::BODY, $t + 300, true ),
			array( 'valid at -300s (receiver clock behind)', (string) $t, self::SIG, 'POST', '/v1/checkout', self::BODY, $t - 300, true ),
			array( 'stale: 301s old', (string) $t, self::SIG, 'POST', '/v1/checkout', self::BODY, $t + 301, false ),
			array( 'from the future: 301s ahead', (string) $t, self::SIG, 'POST', '/v1/checkout', self::BODY, $t - 301, false ),
			array( 'tampered body', (string) $t, self::SIG, 'POST', '/v1/checkout', '{"order_id":124,"gateway":"streampay"}', $t, false ),
			array( 'body with extra space', (string) $t, self::SIG, 'POST', '/v1/checkout', self::BODY . ' ', $t, false ),
			array( 'tampered timestamp', (string) ( $t + 1 ), self::SIG, 'POST', '/v1/checkout', self::BODY, $t, false ),
			array( 'other path', (string) $t, self::SIG, 'POST', '/v1/checkout?x=1', self::BODY, $t, false ),
			array( 'other method', (string) $t, self::SIG, 'PUT', '/v1/checkout', self::BODY, $t, false ),
			array( 'missing signature', (string) $t, null, 'POST', '/v1/checkout', self::BODY, $t, false ),
			array( 'missing timestamp', null, self::SIG, 'POST', '/v1/checkout', self::BODY, $t, false ),
			array( 'non-numeric timestamp', '1766300000.0', self::SIG, 'POST', '/v1/checkout', self::BODY, $t, false ),
			array( 'no v1= prefix', (string) $t, substr( self::SIG, 3 ), 'POST', '/v1/checkout', self::BODY, $t, false ),
			array( 'upper-case hex', (string) $t, strtoupper( self::SIG ), 'POST', '/v1/checkout', self::BODY, $t, false ),
		);
	}

	public function test_empty_secret_never_verifies(): void {
		$sig = Signer::signature( '', 1766300000, 'POST', '/', '' );
		$this->assertFalse( Signer::verify( '', '1766300000', $sig, 'POST', '/', '', 1766300000 ) );
	}
}
