<?php
declare(strict_types=1);

use PHPUnit\Framework\TestCase;
use WCBridge\Finisher;
use WCBridge\Lock;
use WCBridge\Notify_Endpoint;
use WCBridge\Plugin;
use WCBridge\Replay_Guard;
use WCBridge\Signer;

/** In-process lock: a held name cannot be acquired again. */
final class MemoryLock implements Lock {
	public $held = array();
	public $log  = array();
	public function acquire( string $name, int $timeout ): bool {
		$this->log[] = 'acquire ' . $name;
		if ( isset( $this->held[ $name ] ) ) {
			return false;
		}
		$this->held[ $name ] = true;
		return true;
	}
	public function release( string $name ): void {
		$this->log[] = 'release ' . $name;
		unset( $this->held[ $name ] );
	}
}

final class FinisherTest extends TestCase {
	private const SECRET = '24db1f693812f2d50a9d6495829333dff7222b141e1a4399e7c6a461e36bd14e';

	protected function setUp(): void {
		wcb_reset();
		Notify_Endpoint::$finisher = null;
		Notify_Endpoint::$guard    = null;
	}

	private function event( string $outcome, array $extra = array() ): array {
		return array_merge(
			array(
				'event_id'       => 'wcbridge:42:' . $outcome,
				'order_id'       => 123,
				'outcome'        => $outcome,
				'from_status'    => 'pending',
				'to_status'      => 'processing',
				'transaction_id' => '9HKiSMrj',
				'occurred_at'    => '2026-11-21T17:55:00Z',
			),
			$extra
		);
	}

	public function test_paid_does_the_payment_complete_work_once(): void {
		wcb_add_order( 123, array( 'status' => 'processing' ) ); // The sidecar already wrote the status.
		$lock = new MemoryLock();
		$f    = new Finisher( $lock );

		$this->assertTrue( $f->finish( $this->event( 'paid' ) ) );
		$this->assertSame(
			array( 'wc_maybe_reduce_stock_levels', 'wc_release_stock_for_order', 'wc_update_total_sales_counts', 'wc_update_coupon_usage_counts', 'wc_downloadable_product_permissions' ),
			wcb_work_calls()
		);
		$this->assertSame(
			array( array( 'WC_Email_New_Order', 123, 'processing' ), array( 'WC_Email_Customer_Processing_Order', 123, 'processing' ) ),
			$GLOBALS['wcb']['emails']
		);
		$this->assertContains( array( 'woocommerce_payment_complete', 123, '9HKiSMrj' ), $GLOBALS['wcb']['did'] );
		$this->assertSame( array( 'wcbridge:42:paid' ), $GLOBALS['wcb']['orders'][123]['meta']['_wcbridge_finished'] );
		$this->assertContains( array( 'clean_post_cache', 123 ), $GLOBALS['wcb']['calls'], 'caches cleared' );
		$this->assertContains( array( 'wc_delete_shop_order_transients', 123 ), $GLOBALS['wcb']['calls'] );
		$this->assertSame( array( 'acquire wcbridge_finish_123', 'release wcbridge_finish_123' ), $lock->log );

		// The same event again: nothing is done twice.
		$GLOBALS['wcb']['calls']  = array();
		$GLOBALS['wcb']['emails'] = array();
		$GLOBALS['wcb']['did']    = array();
		$this->assertFalse( $f->finish( $this->event( 'paid' ) ) );
		$this->assertSame( array(), wcb_work_calls() );
		$this->assertSame( array(), $GLOBALS['wcb']['emails'] );
		$this->assertSame( array(), $GLOBALS['wcb']['did'] );
		$this->assertSame( array(), $lock->held, 'lock released' );
	}

	public function test_paid_completed_order_sends_completed_email(): void {
		wcb_add_order( 123, array( 'status' => 'completed' ) );
		( new Finisher( new MemoryLock() ) )->finish( $this->event( 'paid', array( 'to_status' => 'completed' ) ) );
		$this->assertSame( array( 'WC_Email_New_Order', 'WC_Email_Customer_Completed_Order' ), array_column( $GLOBALS['wcb']['emails'], 0 ) );
	}

	public function test_paid_without_download_access_after_payment(): void {
		wcb_add_order( 123, array( 'status' => 'processing' ) );
		update_option( 'woocommerce_downloads_grant_access_after_payment', 'no' );
		( new Finisher( new MemoryLock() ) )->finish( $this->event( 'paid' ) );
		$this->assertNotContains( 'wc_downloadable_product_permissions', wcb_work_calls() );
	}

	/** @dataProvider outcomes */
	public function test_outcome_work( string $outcome, string $from, string $status, array $calls, array $emails ): void {
		wcb_add_order( 123, array( 'status' => $status ) );
		$this->assertTrue( ( new Finisher( new MemoryLock() ) )->finish( $this->event( $outcome, array( 'from_status' => $from, 'to_status' => $status ) ) ) );
		$this->assertSame( $calls, wcb_work_calls() );
		$this->assertSame( $emails, array_column( $GLOBALS['wcb']['emails'], 0 ) );
		$this->assertNotContains( 'woocommerce_payment_complete', array_column( $GLOBALS['wcb']['did'], 0 ) );
		$this->assertSame( array( 'wcbridge:42:' . $outcome ), $GLOBALS['wcb']['orders'][123]['meta']['_wcbridge_finished'] );
	}

	public function outcomes(): array {
		return array(
			'on-hold'                  => array( 'on-hold', 'pending', 'on-hold', array( 'wc_maybe_reduce_stock_levels', 'wc_release_stock_for_order' ), array( 'WC_Email_Customer_On_Hold_Order' ) ),
			'cancelled from pending'   => array( 'cancelled', 'pending', 'cancelled', array( 'wc_release_stock_for_order', 'wc_maybe_increase_stock_levels' ), array() ),
			'cancelled from on-hold'   => array( 'cancelled', 'on-hold', 'cancelled', array( 'wc_release_stock_for_order', 'wc_maybe_increase_stock_levels' ), array( 'WC_Email_Cancelled_Order' ) ),
			'failed from pending'      => array( 'failed', 'pending', 'failed', array(), array( 'WC_Email_Failed_Order' ) ),
			'failed from processing'   => array( 'failed', 'processing', 'failed', array(), array() ),
			'note'                     => array( 'note', 'pending', 'pending', array(), array() ),
		);
	}

	public function test_events_are_remembered_per_event_id(): void {
		wcb_add_order( 123, array( 'status' => 'on-hold' ) );
		$f = new Finisher( new MemoryLock() );
		$this->assertTrue( $f->finish( $this->event( 'on-hold' ) ) );
		$this->assertTrue( $f->finish( $this->event( 'note', array( 'event_id' => 'wcbridge:42:note:1' ) ) ) );
		$this->assertFalse( $f->finish( $this->event( 'on-hold' ) ) );
		$this->assertSame( array( 'wcbridge:42:on-hold', 'wcbridge:42:note:1' ), $GLOBALS['wcb']['orders'][123]['meta']['_wcbridge_finished'] );
	}

	public function test_concurrent_delivery_waits_for_the_lock(): void {
		wcb_add_order( 123, array( 'status' => 'processing' ) );
		$lock = new MemoryLock();
		$lock->acquire( 'wcbridge_finish_123', 0 ); // Another process is finishing this order.
		$got = ( new Finisher( $lock ) )->finish( $this->event( 'paid' ) );
		$this->assertInstanceOf( WP_Error::class, $got );
		$this->assertSame( 503, $got->get_error_data()['status'] );
		$this->assertSame( array(), wcb_work_calls() );
		$this->assertSame( '', $GLOBALS['wcb']['orders'][123]['meta']['_wcbridge_finished'] ?? '' );
	}

	public function test_invalid_and_unknown(): void {
		$f = new Finisher( new MemoryLock() );
		$this->assertSame( 400, $f->finish( array( 'order_id' => 1 ) )->get_error_data()['status'] );
		$this->assertSame( 400, $f->finish( $this->event( 'refunded' ) )->get_error_data()['status'] );
		$this->assertSame( 410, $f->finish( $this->event( 'paid' ) )->get_error_data()['status'] );
	}

	public function test_work_failure_is_not_recorded_so_it_is_retried(): void {
		wcb_add_order( 123, array( 'status' => 'processing' ) );
		add_action(
			'woocommerce_payment_complete',
			static function () {
				throw new RuntimeException( 'extension exploded' );
			}
		);
		Notify_Endpoint::$finisher = new Finisher( new MemoryLock() );
		$body = json_encode( $this->event( 'paid' ) );
		$got  = Notify_Endpoint::handle( new WP_REST_Request( 'POST', array(), $body ) );
		$this->assertInstanceOf( WP_Error::class, $got );
		$this->assertSame( 503, $got->get_error_data()['status'] );
		$this->assertSame( '', $GLOBALS['wcb']['orders'][123]['meta']['_wcbridge_finished'] ?? '' );
	}

	// --- The REST endpoint --------------------------------------------------

	private function signed_request( string $body, int $ts, string $path = '/wp-json/wcbridge/v1/notify' ): WP_REST_Request {
		$_SERVER['REQUEST_URI'] = $path;
		return new WP_REST_Request( 'POST', Signer::headers( self::SECRET, 'POST', $path, $body, $ts ), $body );
	}

	public function test_notify_permission_checks_signature_over_raw_body(): void {
		update_option( 'wcbridge_settings', array( 'shared_secret' => self::SECRET ) );
		Notify_Endpoint::$guard = new Replay_Guard( new MemoryLock() );
		$body = json_encode( $this->event( 'paid' ) );

		$this->assertTrue( Notify_Endpoint::permission( $this->signed_request( $body, time() ) ) );
		$this->assertTrue( Notify_Endpoint::permission( $this->signed_request( $body, time(), '/?rest_route=/wcbridge/v1/notify' ) ), 'plain permalinks' );

		$req       = $this->signed_request( $body, time() );
		$req->body = str_replace( 'paid', 'paid ', $body );
		$this->assertSame( 401, Notify_Endpoint::permission( $req )->get_error_data()['status'], 'tampered body' );

		$this->assertSame( 'unauthorized', Notify_Endpoint::permission( $this->signed_request( $body, time() - 301 ) )->get_error_code(), 'stale' );
		$this->assertSame( 'unauthorized', Notify_Endpoint::permission( $this->signed_request( $body, time() + 301 ) )->get_error_code(), 'future' );

		$req                    = $this->signed_request( $body, time() );
		$_SERVER['REQUEST_URI'] = '/wp-json/wcbridge/v1/notify?x=1';
		$this->assertInstanceOf( WP_Error::class, Notify_Endpoint::permission( $req ), 'other path' );

		$_SERVER['REQUEST_URI'] = '/wp-json/wcbridge/v1/notify';
		$this->assertInstanceOf( WP_Error::class, Notify_Endpoint::permission( new WP_REST_Request( 'POST', array(), $body ) ), 'unsigned' );

		update_option( 'wcbridge_settings', array( 'shared_secret' => '' ) );
		$this->assertInstanceOf( WP_Error::class, Notify_Endpoint::permission( $this->signed_request( $body, time() ) ), 'no secret configured' );
	}

	public function test_notify_refuses_a_replayed_request_id(): void {
		update_option( 'wcbridge_settings', array( 'shared_secret' => self::SECRET ) );
		Notify_Endpoint::$guard = new Replay_Guard( new MemoryLock() );
		$body = json_encode( $this->event( 'paid' ) );
		$req  = $this->signed_request( $body, time() );
		$this->assertTrue( Notify_Endpoint::permission( $req ), 'first time' );
		$again = Notify_Endpoint::permission( $req );
		$this->assertInstanceOf( WP_Error::class, $again, 'the same request again' );
		$this->assertSame( 'replayed', $again->get_error_code() );
		$this->assertSame( 401, $again->get_error_data()['status'] );
		// Another process (a fresh guard) sees it too: the ids live in an option.
		Notify_Endpoint::$guard = new Replay_Guard( new MemoryLock() );
		$this->assertSame( 'replayed', Notify_Endpoint::permission( $req )->get_error_code(), 'replayed to another process' );
		// A new request id for the same event passes (the finisher then does nothing twice).
		$this->assertTrue( Notify_Endpoint::permission( $this->signed_request( $body, time() ) ) );
		// Ids are forgotten once their signature has expired.
		$ids = get_option( Replay_Guard::OPTION );
		$this->assertCount( 2, $ids );
		$this->assertTrue( ( new Replay_Guard( new MemoryLock() ) )->first_time( 'later-0000000000000000', time() + 600, time() + 400 ) );
		$this->assertSame( array( 'later-0000000000000000' ), array_keys( get_option( Replay_Guard::OPTION ) ) );
		// A lock that cannot be had is "retry later", not "accepted".
		$busy = new MemoryLock();
		$busy->acquire( 'wcbridge_notify_ids', 1 );
		Notify_Endpoint::$guard = new Replay_Guard( $busy );
		$this->assertSame( 503, Notify_Endpoint::permission( $this->signed_request( $body, time() ) )->get_error_data()['status'] );
		Notify_Endpoint::$guard = null;
	}

	public function test_notify_refuses_a_weak_secret(): void {
		update_option( 'wcbridge_settings', array( 'shared_secret' => 'change-me-to-a-long-random-string-of-32+-chars' ) );
		$body                   = json_encode( $this->event( 'paid' ) );
		$_SERVER['REQUEST_URI'] = '/wp-json/wcbridge/v1/notify';
		$req                    = new WP_REST_Request( 'POST', Signer::headers( 'change-me-to-a-long-random-string-of-32+-chars', 'POST', '/wp-json/wcbridge/v1/notify', $body, time() ), $body );
		$this->assertSame( 401, Notify_Endpoint::permission( $req )->get_error_data()['status'], 'a placeholder secret verifies nothing' );
	}

	public function test_notify_answers_finished_true_then_false(): void {
		wcb_add_order( 123, array( 'status' => 'processing' ) );
		Notify_Endpoint::$finisher = new Finisher( new MemoryLock() );
		$req = new WP_REST_Request( 'POST', array(), json_encode( $this->event( 'paid' ) ) );

		$first = Notify_Endpoint::handle( $req );
		$this->assertSame( 200, $first->status );
		$this->assertSame( array( 'ok' => true, 'finished' => true ), $first->data );

		$second = Notify_Endpoint::handle( $req );
		$this->assertSame( array( 'ok' => true, 'finished' => false ), $second->data );
		$this->assertSame( 2, count( $GLOBALS['wcb']['emails'] ) );

		$this->assertSame( 400, Notify_Endpoint::handle( new WP_REST_Request( 'POST', array(), 'not json' ) )->get_error_data()['status'] );
	}

	// --- Hold-stock timer ---------------------------------------------------

	/** @dataProvider holds */
	public function test_hold_stock_filter( bool $cancel, array $meta, bool $want ): void {
		wcb_add_order( 7, array( 'meta' => $meta ) );
		$GLOBALS['wcb']['http'] = static function () {
			throw new RuntimeException( 'the hold-stock filter must not call the sidecar' );
		};
		$this->assertSame( $want, Plugin::keep_unpaid_order( $cancel, wc_get_order( 7 ) ) );
	}

	public function holds(): array {
		$future = gmdate( 'Y-m-d\TH:i:s\Z', time() + 600 );
		$past   = gmdate( 'Y-m-d\TH:i:s\Z', time() - 600 );
		return array(
			'no meta: cancel'           => array( true, array(), true ),
			'hold in the future: keep'  => array( true, array( '_wcbridge_hold_until' => $future ), false ),
			'hold passed: cancel'       => array( true, array( '_wcbridge_hold_until' => $past ), true ),
			'underpaid: keep'           => array( true, array( '_wcbridge_hold_until' => $past, '_wcbridge_payment_status' => 'underpaid' ), false ),
			'waiting, hold passed'      => array( true, array( '_wcbridge_hold_until' => $past, '_wcbridge_payment_status' => 'waiting' ), true ),
			'garbage date: cancel'      => array( true, array( '_wcbridge_hold_until' => 'soon' ), true ),
			'WooCommerce would not'     => array( false, array( '_wcbridge_hold_until' => $future ), false ),
		);
	}
}
