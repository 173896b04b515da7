<?php
declare(strict_types=1);

use PHPUnit\Framework\TestCase;
use WCBridge\Gateway_StreamPay;
use WCBridge\Gateway_CryptoCloud;

final class CheckoutTest extends TestCase {
	/** @var FakeSidecar */
	private static $sidecar;

	public static function setUpBeforeClass(): void {
		self::$sidecar = new FakeSidecar();
	}

	public static function tearDownAfterClass(): void {
		self::$sidecar->stop();
	}

	protected function setUp(): void {
		wcb_reset();
		self::$sidecar->reset();
		self::$sidecar->configure_plugin();
		wcb_add_order( 123 );
	}

	private function checkout_answer(): array {
		return array(
			'redirect_url' => 'https://pay.example/checkout/LqaUrQimtgTe9iF3Knv8Ld',
			'reused'       => false,
			'hold_until'   => '2026-11-21T19:00:00Z',
			'payment'      => array(
				'id'                 => 42,
				'gateway'            => 'streampay',
				'gateway_payment_id' => 'LqaUrQimtgTe9iF3Knv8Ld',
				'status'             => 'waiting',
				'amount'             => '25.00',
				'currency'           => 'EUR',
			),
		);
	}

	public function test_success_redirects_stores_meta_and_empties_cart(): void {
		self::$sidecar->answer( 'POST /v1/checkout', 200, $this->checkout_answer() );

		$got = ( new Gateway_StreamPay() )->process_payment( 123 );

		$this->assertSame( array( 'result' => 'success', 'redirect' => 'https://pay.example/checkout/LqaUrQimtgTe9iF3Knv8Ld' ), $got );
		$meta = $GLOBALS['wcb']['orders'][123]['meta'];
		$this->assertSame( 'streampay', $meta['_wcbridge_gateway'] );
		$this->assertSame( '42', $meta['_wcbridge_payment_ref'] );
		$this->assertSame( 'LqaUrQimtgTe9iF3Knv8Ld', $meta['_wcbridge_payment_id'] );
		$this->assertSame( '2026-11-21T19:00:00Z', $meta['_wcbridge_hold_until'] );
		$this->assertSame( 1, $GLOBALS['wcb']['orders'][123]['saves'] );
		$this->assertSame( 1, $GLOBALS['wcb']['cart_empty'] );
		$this->assertSame( array(), $GLOBALS['wcb']['notices'] );

		$reqs = self::$sidecar->requests();
		$this->assertCount( 1, $reqs );
		$this->assertTrue( $reqs[0]['valid'], 'the fake sidecar verified the signature' );
		$this->assertSame( 'POST', $reqs[0]['method'] );
		$this->assertSame( '/v1/checkout', $reqs[0]['path'] );
		$body = json_decode( $reqs[0]['body'], true );
		$this->assertSame(
			array(
				'order_id'   => 123,
				'gateway'    => 'streampay',
				'order_key'  => 'wc_order_Ab3dE6gH9jK2m',
				'return_url' => 'https://shop.example/checkout/order-received/123/?key=wc_order_Ab3dE6gH9jK2m',
				'cancel_url'  => 'https://shop.example/checkout/order-pay/123/?pay_for_order=true&key=wc_order_Ab3dE6gH9jK2m',
				'paid_status' => 'processing',
			),
			$body
		);
		$this->assertArrayNotHasKey( 'amount', $body, 'the plugin never sends an amount' );
		$this->assertSame( 'https://pay.example/checkout/LqaUrQimtgTe9iF3Knv8Ld', $meta['_wcbridge_pay_url'], 'kept for the on-hold e-mail\'s payment link' );
	}

	/** @dataProvider paid_statuses */
	public function test_paid_status_follows_the_shops_filter( bool $needs_processing, $filtered, ?string $want ): void {
		$GLOBALS['wcb']['orders'][123]['needs_processing'] = $needs_processing;
		$seen = array();
		add_filter(
			'woocommerce_payment_complete_order_status',
			static function ( $status, $order_id = null, $order = null ) use ( $filtered, &$seen ) {
				$seen[] = array( $status, $order_id, is_object( $order ) );
				return null === $filtered ? $status : $filtered;
			},
			10,
			3
		);
		self::$sidecar->answer( 'POST /v1/checkout', 200, $this->checkout_answer() );
		( new Gateway_StreamPay() )->process_payment( 123 );
		$this->assertSame( array( array( $needs_processing ? 'processing' : 'completed', 123, true ) ), $seen, 'evaluated as payment_complete() evaluates it' );
		$body = json_decode( self::$sidecar->requests()[0]['body'], true );
		$this->assertSame( $want, $body['paid_status'] ?? null );
	}

	public function paid_statuses(): array {
		return array(
			'physical: processing'                    => array( true, null, 'processing' ),
			'virtual downloads: completed'            => array( false, null, 'completed' ),
			'the shop completes everything'           => array( true, 'completed', 'completed' ),
			'with the wc- prefix'                     => array( false, 'wc-processing', 'processing' ),
			'a custom status: not sent, logged'       => array( true, 'awaiting-shipment', null ),
		);
	}

	public function test_gateway_is_part_of_the_method_id(): void {
		self::$sidecar->answer( 'POST /v1/checkout', 200, $this->checkout_answer() );
		$gw = new Gateway_CryptoCloud();
		$this->assertSame( 'wcbridge_cryptocloud', $gw->id );
		$gw->process_payment( 123 );
		$this->assertSame( 'cryptocloud', json_decode( self::$sidecar->requests()[0]['body'], true )['gateway'] );
	}

	/** @dataProvider sidecar_errors */
	public function test_sidecar_error_gives_notice_and_log_without_internals( int $status, string $code, string $message, string $notice_contains ): void {
		self::$sidecar->answer( 'POST /v1/checkout', $status, array( 'error' => array( 'code' => $code, 'message' => $message ) ) );

		$got = ( new Gateway_StreamPay() )->process_payment( 123 );

		$this->assertSame( 'failure', $got['result'] );
		$this->assertArrayNotHasKey( 'redirect', $got );
		$this->assertCount( 1, $GLOBALS['wcb']['notices'] );
		$this->assertSame( 'error', $GLOBALS['wcb']['notices'][0][0] );
		$this->assertStringContainsString( $notice_contains, $GLOBALS['wcb']['notices'][0][1] );
		$this->assertStringNotContainsString( $message, $GLOBALS['wcb']['notices'][0][1], 'the sidecar message is for the shop owner' );
		$this->assertStringNotContainsString( '127.0.0.1', $GLOBALS['wcb']['notices'][0][1] );
		$this->assertCount( 1, $GLOBALS['wcb']['logs'] );
		$this->assertSame( 'error', $GLOBALS['wcb']['logs'][0][0] );
		$this->assertSame( 'wcbridge', $GLOBALS['wcb']['logs'][0][2]['source'] );
		$this->assertStringContainsString( $code, $GLOBALS['wcb']['logs'][0][1] );
		$this->assertStringNotContainsString( FakeSidecar::SECRET, $GLOBALS['wcb']['logs'][0][1] );
		$this->assertSame( array(), $GLOBALS['wcb']['orders'][123]['meta'] );
		$this->assertSame( 0, $GLOBALS['wcb']['cart_empty'] );
	}

	public function sidecar_errors(): array {
		return array(
			'gateway error' => array( 502, 'gateway_error', 'streampay: 500 from api.streampay.example (merchant 9931)', 'try again' ),
			'conflict'      => array( 409, 'conflict', 'order 123 is processing', 'no longer be paid' ),
			'being created' => array( 409, 'in_progress', 'payment for this order is being created; retry in a moment', 'try again' ),
			'unsupported'   => array( 422, 'unsupported', 'streampay does not accept JPY', 'currency' ),
			'unavailable'   => array( 503, 'unavailable', 'database down: dial tcp 10.0.0.5:3306', 'try again' ),
		);
	}

	public function test_wrong_secret_is_refused_by_the_real_verifier(): void {
		self::$sidecar->configure_plugin( 'e1d4a7c0f3b6295e8d1a4c7f0b3e6d9a2c5f8b1e4d7a0c3f6b9e2d5a8c1f4b7e' );
		self::$sidecar->answer( 'POST /v1/checkout', 200, $this->checkout_answer() );

		$got = ( new Gateway_StreamPay() )->process_payment( 123 );

		$this->assertSame( 'failure', $got['result'] );
		$this->assertFalse( self::$sidecar->requests()[0]['valid'] );
		$this->assertStringContainsString( 'unauthorized', $GLOBALS['wcb']['logs'][0][1] );
		$this->assertStringNotContainsString( 'signature', $GLOBALS['wcb']['notices'][0][1] );
	}

	public function test_weak_secret_sends_nothing(): void {
		self::$sidecar->configure_plugin( str_repeat( 'x', 40 ) );
		self::$sidecar->answer( 'POST /v1/checkout', 200, $this->checkout_answer() );

		$got = ( new Gateway_StreamPay() )->process_payment( 123 );

		$this->assertSame( 'failure', $got['result'] );
		$this->assertSame( array(), self::$sidecar->requests(), 'a request signed with a guessable secret was sent' );
	}

	public function test_every_request_has_its_own_request_id(): void {
		self::$sidecar->configure_plugin();
		self::$sidecar->answer( 'GET /v1/status', 200, array( 'version' => 'x' ) );
		$c = \WCBridge\Client::from_settings();
		$this->assertIsArray( $c->status() );
		$this->assertIsArray( $c->status() );
		$reqs = self::$sidecar->requests();
		$this->assertCount( 2, $reqs );
		$this->assertTrue( $reqs[0]['valid'] && $reqs[1]['valid'] );
		$this->assertNotSame( $reqs[0]['request_id'], $reqs[1]['request_id'] );
		$this->assertFalse( $reqs[1]['replayed'] );
	}

	public function test_timeout_and_unreachable(): void {
		$GLOBALS['wcb']['http'] = static function ( $url, $args ) {
			TestCase::assertSame( 10, $args['timeout'] );
			return new WP_Error( 'http_request_failed', 'cURL error 28: Operation timed out after 10001 milliseconds' );
		};
		$got = ( new Gateway_StreamPay() )->process_payment( 123 );
		$this->assertSame( 'failure', $got['result'] );
		$this->assertStringNotContainsString( 'cURL', $GLOBALS['wcb']['notices'][0][1] );
		$this->assertStringContainsString( 'unreachable', $GLOBALS['wcb']['logs'][0][1] );
		$this->assertStringContainsString( 'timed out', $GLOBALS['wcb']['logs'][0][1] );
		$health = get_transient( \WCBridge\Settings::HEALTH );
		$this->assertFalse( $health['ok'], 'the admin notice shows the outage at once' );

		wcb_reset();
		update_option( 'wcbridge_settings', array( 'sidecar_url' => 'http://127.0.0.1:9', 'shared_secret' => FakeSidecar::SECRET ) );
		wcb_add_order( 123 );
		$got = ( new Gateway_StreamPay() )->process_payment( 123 );
		$this->assertSame( 'failure', $got['result'] );
		$this->assertCount( 1, $GLOBALS['wcb']['notices'] );
	}

	public function test_answer_without_redirect_is_a_failure(): void {
		$answer = $this->checkout_answer();
		unset( $answer['redirect_url'] );
		self::$sidecar->answer( 'POST /v1/checkout', 200, $answer );
		$got = ( new Gateway_StreamPay() )->process_payment( 123 );
		$this->assertSame( 'failure', $got['result'] );
		$this->assertSame( 0, $GLOBALS['wcb']['cart_empty'] );
	}

	public function test_not_configured(): void {
		delete_option( 'wcbridge_settings' );
		$got = ( new Gateway_StreamPay() )->process_payment( 123 );
		$this->assertSame( 'failure', $got['result'] );
		$this->assertStringContainsString( 'not_configured', $GLOBALS['wcb']['logs'][0][1] );
		$this->assertStringNotContainsString( 'secret', $GLOBALS['wcb']['notices'][0][1] );
	}
}
