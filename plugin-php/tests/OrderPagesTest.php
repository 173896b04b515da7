<?php
declare(strict_types=1);

use PHPUnit\Framework\TestCase;
use WCBridge\Order_Admin;
use WCBridge\Order_Pages;

final class OrderPagesTest extends TestCase {
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
		$_POST = array();
	}

	private function answer( string $state, array $payment = array() ): array {
		return array(
			'order_id' => 123,
			'state'    => $state,
			'payment'  => array_merge( array( 'id' => 42, 'gateway' => 'streampay', 'amount' => '25.00', 'currency' => 'EUR', 'received' => '0', 'shortfall' => '0' ), $payment ),
		);
	}

	public function test_state_messages(): void {
		$order = wc_get_order( 123 );
		$this->assertStringContainsString( 'Waiting', Order_Pages::state_html( $order, $this->answer( 'waiting' ) ) );
		$this->assertStringContainsString( 'confirmed', Order_Pages::state_html( $order, $this->answer( 'confirmed' ) ) );
		$under = Order_Pages::state_html( $order, $this->answer( 'underpaid', array( 'received' => '20.00', 'shortfall' => '5.00' ) ) );
		$this->assertStringContainsString( '&euro;</span>5.00</bdi></span> is missing', $under );
		$expired = Order_Pages::state_html( $order, $this->answer( 'expired' ) );
		$this->assertStringContainsString( 'Pay again', $expired );
		$this->assertStringContainsString( 'order-pay/123/?pay_for_order=true&amp;key=wc_order_Ab3dE6gH9jK2m', $expired );
		$GLOBALS['wcb']['orders'][123]['status'] = 'cancelled';
		$cancelled = Order_Pages::state_html( wc_get_order( 123 ), $this->answer( 'expired' ) );
		$this->assertStringNotContainsString( 'Pay again', $cancelled, 'a cancelled order cannot be paid' );
		$this->assertStringContainsString( 'new order', $cancelled );
		$GLOBALS['wcb']['orders'][123]['status'] = 'pending';
		// The re-check that reported the expiry has just cancelled the order
		// in the database; the order object loaded before still says pending.
		$just_cancelled = Order_Pages::state_html( wc_get_order( 123 ), array_merge( $this->answer( 'expired' ), array( 'order_status' => 'cancelled' ) ) );
		$this->assertStringNotContainsString( 'Pay again', $just_cancelled );
		$left_pending = Order_Pages::state_html( wc_get_order( 123 ), array_merge( $this->answer( 'expired' ), array( 'order_status' => 'pending' ) ) );
		$this->assertStringContainsString( 'Pay again', $left_pending );
		$this->assertStringContainsString( 'cancelled', Order_Pages::state_html( $order, $this->answer( 'cancelled' ) ) );
		$this->assertStringContainsString( 'cannot show', Order_Pages::state_html( $order, new WP_Error( 'unavailable', 'db down at 10.0.0.5' ) ) );
		$this->assertStringNotContainsString( '10.0.0.5', Order_Pages::state_html( $order, new WP_Error( 'unavailable', 'db down at 10.0.0.5' ) ) );
		$xss = Order_Pages::state_html( $order, $this->answer( 'underpaid', array( 'shortfall' => '<script>x</script>' ) ) );
		$this->assertStringNotContainsString( '<script>', $xss );
	}

	/**
	 * The customer reads amounts as the shop shows prices (wc_price), with
	 * every decimal the sidecar sent, never "1234.5 EUR".
	 */
	public function test_amounts_in_the_shops_price_format(): void {
		update_option( 'woocommerce_price_decimal_sep', ',' );
		update_option( 'woocommerce_price_thousand_sep', '.' );
		$order = wc_get_order( 123 );
		$under = Order_Pages::state_html( $order, $this->answer( 'underpaid', array( 'shortfall' => '1234.5' ) ) );
		$this->assertStringContainsString( '&euro;</span>1.234,50</bdi></span> is missing', $under );
		$this->assertStringNotContainsString( '1234.5 EUR', $under );
		$tiny = Order_Pages::state_html( $order, $this->answer( 'underpaid', array( 'shortfall' => '0.0040' ) ) );
		$this->assertStringContainsString( '0,004</bdi>', $tiny, 'a shortfall below a cent is not shown as 0,00' );
	}

	/**
	 * The admin box shows amounts in the price format and times in the
	 * site's date and time format and timezone, not RFC 3339 in UTC.
	 */
	public function test_admin_box_formats_amounts_and_times(): void {
		update_option( 'date_format', 'd.m.Y' );
		update_option( 'time_format', 'H:i' );
		update_option( 'timezone_string', 'Europe/Berlin' );
		self::$sidecar->answer( 'GET /v1/orders/123/payment', 200, $this->answer( 'underpaid', array( 'received' => '20', 'shortfall' => '5.00', 'expires_at' => '2026-05-01T10:00:00Z' ) ) );
		ob_start();
		Order_Admin::render_meta_box( wc_get_order( 123 ) );
		$html = ob_get_clean();
		$this->assertStringContainsString( '01.05.2026 12:00', $html );
		$this->assertStringNotContainsString( '2026-05-01T10:00:00Z', $html );
		$this->assertStringContainsString( '&euro;</span>25.00</bdi>', $html );
		$this->assertStringContainsString( '&euro;</span>20.00</bdi>', $html );
		$this->assertStringContainsString( '&euro;</span>5.00</bdi>', $html );
		$this->assertStringNotContainsString( '25.00 EUR', $html );
	}

	public function test_ajax_checks_the_order_key(): void {
		self::$sidecar->answer( 'GET /v1/orders/123/payment', 200, $this->answer( 'waiting' ) );
		$_POST = array( 'order_id' => '123', 'key' => 'wc_order_wrong' );
		Order_Pages::ajax();
		$this->assertFalse( $GLOBALS['wcb']['json']['success'] );
		$this->assertSame( array(), self::$sidecar->requests(), 'no call to the sidecar for a wrong key' );

		$_POST = array( 'order_id' => '123', 'key' => 'wc_order_Ab3dE6gH9jK2m' );
		Order_Pages::ajax();
		$this->assertTrue( $GLOBALS['wcb']['json']['success'] );
		$this->assertSame( 'waiting', $GLOBALS['wcb']['json']['data']['state'] );
		$this->assertFalse( $GLOBALS['wcb']['json']['data']['final'] );
		$this->assertTrue( self::$sidecar->requests()[0]['valid'], 'signed server-side' );
	}

	public function test_ajax_recheck_once_then_plain_reads(): void {
		self::$sidecar->answer( 'POST /v1/orders/123/recheck', 200, $this->answer( 'confirmed' ) );
		self::$sidecar->answer( 'GET /v1/orders/123/payment', 200, $this->answer( 'confirmed' ) );
		$_POST = array( 'order_id' => '123', 'key' => 'wc_order_Ab3dE6gH9jK2m', 'recheck' => '1' );
		Order_Pages::ajax();
		Order_Pages::ajax();
		$paths = array_map( static fn( $r ) => $r['method'] . ' ' . $r['path'], self::$sidecar->requests() );
		$this->assertSame( array( 'POST /v1/orders/123/recheck', 'GET /v1/orders/123/payment' ), $paths );
		$this->assertSame( '{}', self::$sidecar->requests()[0]['body'] );
		$this->assertTrue( $GLOBALS['wcb']['json']['data']['final'] );
	}

	public function test_other_payment_methods_are_left_alone(): void {
		wcb_add_order( 124, array( 'payment_method' => 'bacs' ) );
		ob_start();
		Order_Pages::thankyou( 124 );
		Order_Pages::view_order( 124 );
		$this->assertSame( '', ob_get_clean() );
		$this->assertSame( array(), self::$sidecar->requests() );
	}

	public function test_thankyou_page_view_creates_no_payment(): void {
		ob_start();
		Order_Pages::thankyou( 123 );
		$html = ob_get_clean();
		$this->assertStringContainsString( 'data-recheck="1"', $html );
		$this->assertSame( array(), self::$sidecar->requests(), 'the re-check is left to the page script' );

		self::$sidecar->answer( 'GET /v1/orders/123/payment', 200, $this->answer( 'waiting' ) );
		ob_start();
		Order_Pages::view_order( 123 );
		$html = ob_get_clean();
		$this->assertStringContainsString( 'Waiting', $html );
		foreach ( self::$sidecar->requests() as $r ) {
			$this->assertNotSame( '/v1/checkout', $r['path'] );
		}
	}

	public function test_order_admin_recheck_actions(): void {
		self::$sidecar->answer( 'POST /v1/orders/123/recheck', 200, $this->answer( 'confirmed' ) );
		$this->assertArrayHasKey( 'wcbridge_recheck', Order_Admin::order_actions( array(), wc_get_order( 123 ) ) );
		Order_Admin::order_action( wc_get_order( 123 ) );
		$this->assertStringContainsString( 'confirmed', end( $GLOBALS['wcb']['orders'][123]['notes'] ) );

		wcb_add_order( 124, array( 'payment_method' => 'bacs' ) );
		$url = Order_Admin::handle_bulk_action( 'https://shop.example/wp-admin/admin.php?page=wc-orders', 'wcbridge_recheck', array( 123, 124 ) );
		$this->assertStringContainsString( 'wcbridge_rechecked=1', $url );
		$this->assertStringContainsString( 'wcbridge_recheck_failed=0', $url );
		$this->assertSame( 'x', Order_Admin::handle_bulk_action( 'x', 'mark_completed', array( 123 ) ) );

		$GLOBALS['wcb']['user_can'] = false;
		$this->assertSame( 'x', Order_Admin::handle_bulk_action( 'x', 'wcbridge_recheck', array( 123 ) ) );
	}
}
