<?php
declare(strict_types=1);

use PHPUnit\Framework\TestCase;
use WCBridge\Emails;
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

/**
 * The finisher replays, for each transition the sidecar made, the hooks
 * WooCommerce's own status change fires. The expected sequences are not
 * written here: they are fixtures recorded from WooCommerce itself
 * (tests/fixtures/hooks/, written by scripts/realstore with --fixtures:
 * WooCommerce's payment_complete() or update_status() on a real order, every
 * action recorded). Here, without WordPress, WooCommerce's listeners do not
 * run, so the comparison is of the actions WooCommerce fires itself (depth 1
 * of the recording), its save being one step; scripts/realstore compares
 * the whole sequence, listeners included, in a real store.
 */
final class FinisherTest extends TestCase {
	private const SECRET = '24db1f693812f2d50a9d6495829333dff7222b141e1a4399e7c6a461e36bd14e';
	private const TXN    = '9HKiSMrj';

	protected function setUp(): void {
		wcb_reset();
		Notify_Endpoint::$finisher = null;
		Notify_Endpoint::$guard    = null;
	}

	/** A notification as the sidecar sends it (docs/plugin-api.md). */
	private function event( string $id, string $outcome, string $from, string $to, array $extra = array() ): array {
		return array_merge(
			array(
				'event_id'       => $id,
				'order_id'       => 123,
				'outcome'        => $outcome,
				'from_status'    => $from,
				'to_status'      => $to,
				'transaction_id' => self::TXN,
				'occurred_at'    => '2026-11-21T17:55:00Z',
				'note_id'        => 77,
				'payment'        => array(
					'id'                 => 42,
					'gateway'            => 'cryptocloud',
					'gateway_payment_id' => 'INV-ABCD1234',
					'status'             => 'paid',
					'amount'             => '25.00',
					'currency'           => 'EUR',
					'received'           => '25.00',
					'shortfall'          => '0',
					'excess'             => '0',
					'pay_url'            => 'https://pay.cryptocloud.test/INV-ABCD1234',
					'expires_at'         => '2026-11-21T18:00:00Z',
				),
			),
			$extra
		);
	}

	/**
	 * An order as the sidecar left it: in status $status, with its event
	 * and transition rows (woo/apply.go writes them in the same transaction).
	 */
	private function order( string $status, array $events = array(), array $transitions = array(), array $meta = array() ): void {
		wcb_add_order(
			123,
			array(
				'status' => $status,
				'meta'   => $meta,
				'multi'  => array(
					Finisher::EVENT_META      => $events,
					Finisher::TRANSITION_META => $transitions,
				),
			)
		);
	}

	/**
	 * Fixture: WooCommerce's own actions for a transition, from the
	 * recording: depth 1 only, the save's hooks as one SAVE step.
	 */
	private function fixture( string $name ): array {
		$file = __DIR__ . '/fixtures/hooks/' . $name . '.json';
		$this->assertFileExists( $file, 'fixture recorded from WooCommerce (scripts/realstore --fixtures)' );
		$data = json_decode( (string) file_get_contents( $file ), true );
		$out  = array();
		foreach ( $data['hooks'] as $line ) {
			if ( ! preg_match( '/^(\d+) (\w[\w-]*)\((.*)\)$/', $line, $m ) || '1' !== $m[1] ) {
				continue;
			}
			if ( preg_match( '/^woocommerce_(before_order_object_save|after_order_object_save|update_order|before_order_item_object_save|after_order_item_object_save|update_order_item|delete_shop_order_transients|order_object_updated_props)$/', $m[2] ) ) {
				if ( 'SAVE' !== end( $out ) ) {
					$out[] = 'SAVE';
				}
				continue;
			}
			$out[] = $m[2] . '(' . $m[3] . ')';
		}
		return $out;
	}

	/** What the finisher fired, in the fixture's notation. */
	private function fired(): array {
		$out = array();
		foreach ( $GLOBALS['wcb']['did'] as $d ) {
			if ( 'SAVE' === $d[0] ) {
				if ( 'SAVE' !== end( $out ) ) {
					$out[] = 'SAVE';
				}
				continue;
			}
			if ( 0 !== strpos( $d[0], 'woocommerce_' ) ) {
				continue;
			}
			$args = array();
			foreach ( array_slice( $d, 1 ) as $i => $a ) {
				if ( 123 === $a ) {
					$a = 'ID';
				} elseif ( self::TXN === $a ) {
					$a = 'TXN';
				} elseif ( 77 === $a && 'woocommerce_order_note_added' === $d[0] ) {
					$a = 'NOTE';
				} elseif ( $a instanceof WC_Order ) {
					$a = 'order:' . $a->get_status();
				} elseif ( is_array( $a ) && isset( $a['from'], $a['to'] ) ) {
					$a = 'transition:' . $a['from'] . '>' . $a['to'];
				}
				$args[] = json_encode( $a );
			}
			$out[] = $d[0] . '(' . implode( ',', $args ) . ')';
		}
		return $out;
	}

	/** @dataProvider transitions */
	public function test_replays_what_woocommerce_fires( string $fixture, string $event_id, string $outcome, string $from, string $to, string $payment_status ): void {
		$this->order( $to, array( $event_id ), array( "$event_id $from $to" ) );
		$event = $this->event( $event_id, $outcome, $from, $to );
		$event['payment']['status'] = $payment_status;
		$this->assertTrue( ( new Finisher( new MemoryLock() ) )->finish( $event ) );

		$this->assertSame( $this->fixture( $fixture ), $this->fired() );
		$this->assertSame( array( $event_id ), $GLOBALS['wcb']['orders'][123]['meta']['_wcbridge_finished'] );

		// Once: the same event again does nothing.
		$GLOBALS['wcb']['did'] = array();
		$this->assertFalse( ( new Finisher( new MemoryLock() ) )->finish( $event ) );
		$this->assertSame( array(), $this->fired() );
	}

	/** One case per transition the sidecar makes: fixture, event, outcome, from, to, payment status. */
	public function transitions(): array {
		return array(
			'paid'                      => array( 'paid-pending-to-processing', 'wcbridge:42:paid', 'paid', 'pending', 'processing', 'paid' ),
			'paid, virtual downloads'   => array( 'paid-pending-to-completed', 'wcbridge:42:paid', 'paid', 'pending', 'completed', 'paid' ),
			'overpaid'                  => array( 'paid-pending-to-processing', 'wcbridge:42:overpaid', 'paid', 'pending', 'processing', 'overpaid' ),
			'underpaid: on hold'        => array( 'on-hold-pending-to-on-hold', 'wcbridge:42:underpaid', 'on-hold', 'pending', 'on-hold', 'underpaid' ),
			'the rest paid'             => array( 'paid-on-hold-to-processing', 'wcbridge:42:paid', 'paid', 'on-hold', 'processing', 'paid' ),
			'expired: cancelled'        => array( 'cancelled-pending-to-cancelled', 'wcbridge:42:expired', 'cancelled', 'pending', 'cancelled', 'expired' ),
			'failed'                    => array( 'failed-pending-to-failed', 'wcbridge:42:failed', 'failed', 'pending', 'failed', 'failed' ),
			'paid late: processing'     => array( 'paid-cancelled-to-processing', 'wcbridge:42:paid', 'paid', 'cancelled', 'processing', 'paid' ),
			'paid late: on hold'        => array( 'on-hold-cancelled-to-on-hold', 'wcbridge:42:paid', 'on-hold', 'cancelled', 'on-hold', 'paid' ),
		);
	}

	public function test_from_status_is_the_one_the_order_really_had(): void {
		// A notification re-queued after a crash says from = to; the
		// transition row the sidecar wrote says where the order came from.
		$this->order( 'processing', array( 'wcbridge:42:paid' ), array( 'wcbridge:42:paid pending processing' ) );
		( new Finisher( new MemoryLock() ) )->finish( $this->event( 'wcbridge:42:paid', 'paid', 'processing', 'processing' ) );
		$this->assertSame( $this->fixture( 'paid-pending-to-processing' ), $this->fired() );
	}

	public function test_no_status_change_fires_nothing_of_woocommerces(): void {
		// A note (e.g. a second payment on a paid order): nothing to replay.
		$this->order( 'processing', array( 'wcbridge:42:paid:second' ) );
		$this->assertTrue( ( new Finisher( new MemoryLock() ) )->finish( $this->event( 'wcbridge:42:paid:second', 'note', 'processing', 'processing' ) ) );
		$this->assertSame( array( 'SAVE' ), $this->fired() );
	}

	public function test_the_handwritten_work_is_gone(): void {
		// Stock, sales, coupons, downloads and e-mails are WooCommerce's
		// listeners' work on the replayed hooks; the finisher does none itself.
		$this->order( 'processing', array( 'wcbridge:42:paid' ), array( 'wcbridge:42:paid pending processing' ) );
		( new Finisher( new MemoryLock() ) )->finish( $this->event( 'wcbridge:42:paid', 'paid', 'pending', 'processing' ) );
		$this->assertSame( array(), wcb_work_calls() );
		$this->assertSame( array(), $GLOBALS['wcb']['emails'] );
	}

	public function test_caches_are_cleared_before_reading_the_order(): void {
		$this->order( 'processing', array( 'wcbridge:42:paid' ), array( 'wcbridge:42:paid pending processing' ) );
		( new Finisher( new MemoryLock() ) )->finish( $this->event( 'wcbridge:42:paid', 'paid', 'pending', 'processing' ) );
		$calls = $GLOBALS['wcb']['calls'];
		$this->assertContains( array( 'clean_post_cache', 123 ), $calls );
		$this->assertContains( array( 'wp_cache_delete', 'order-items-123', 'orders' ), $calls );
		$this->assertContains( array( 'invalidate_cache_group', 'object_123' ), $calls, 'the order meta cache' );
	}

	public function test_listener_failure_is_noted_not_retried(): void {
		// WooCommerce catches a listener's exception during a status change,
		// logs and notes it; the status change stands. So does the finisher:
		// retrying would repeat the listeners that ran, e-mails included.
		$this->order( 'processing', array( 'wcbridge:42:paid' ), array( 'wcbridge:42:paid pending processing' ) );
		add_action(
			'woocommerce_order_status_processing',
			static function () {
				throw new RuntimeException( 'extension exploded' );
			}
		);
		$this->assertTrue( ( new Finisher( new MemoryLock() ) )->finish( $this->event( 'wcbridge:42:paid', 'paid', 'pending', 'processing' ) ) );
		$this->assertSame( array( 'wcbridge:42:paid' ), $GLOBALS['wcb']['orders'][123]['meta']['_wcbridge_finished'] );
		$this->assertStringContainsString( 'extension exploded', implode( ' ', $GLOBALS['wcb']['orders'][123]['notes'] ) );
	}

	public function test_failure_before_the_save_is_retried(): void {
		$this->order( 'processing', array( 'wcbridge:42:paid' ), array( 'wcbridge:42:paid pending processing' ) );
		$GLOBALS['wcb']['save_throws'] = true;
		Notify_Endpoint::$finisher     = new Finisher( new MemoryLock() );
		$got                           = Notify_Endpoint::handle( new WP_REST_Request( 'POST', array(), json_encode( $this->event( 'wcbridge:42:paid', 'paid', 'pending', 'processing' ) ) ) );
		$this->assertSame( 503, $got->get_error_data()['status'] );
		$this->assertSame( '', $GLOBALS['wcb']['orders'][123]['meta']['_wcbridge_finished'] ?? '' );
		$this->assertNotContains( 'woocommerce_order_status_processing', array_column( $GLOBALS['wcb']['did'], 0 ), 'nothing fired before the order was saved' );
	}

	// --- 2. Never finish a transition the order has left ---------------------

	public function test_order_the_shop_cancelled_meanwhile(): void {
		// The sidecar marked it paid while WordPress was down; the shop
		// cancelled it before the notification arrived.
		$this->order( 'cancelled', array( 'wcbridge:42:paid' ), array( 'wcbridge:42:paid pending processing' ) );
		$this->assertTrue( ( new Finisher( new MemoryLock() ) )->finish( $this->event( 'wcbridge:42:paid', 'paid', 'pending', 'processing' ) ) );

		$this->assertSame( array( 'SAVE' ), $this->fired(), 'nothing of the payment transition fired' );
		$notes = implode( "\n", $GLOBALS['wcb']['orders'][123]['notes'] );
		$this->assertStringContainsString( 'was received after the order was changed to "Cancelled"', $notes );
		$this->assertStringContainsString( 'Reinstate the order or refund the payment', $notes );
		$this->assertStringContainsString( '<span class="woocommerce-Price-currencySymbol">&euro;</span>25.00', $notes, 'the amount in the shop\'s price format (wc_price)' );
		$this->assertCount( 1, $GLOBALS['wcb']['attention'], 'the shop is e-mailed' );
		$this->assertSame( 'moved', $GLOBALS['wcb']['attention'][0]['findings'][0]['code'] );
		$this->assertSame( array( 'wcbridge:42:paid' ), $GLOBALS['wcb']['orders'][123]['meta']['_wcbridge_finished'] );
	}

	public function test_order_the_sidecar_moved_on_since_is_not_flagged(): void {
		// Underpaid, then topped up: the on-hold event arrives after the paid
		// one (its delivery failed once). Nothing to finish, nobody to tell.
		$this->order( 'processing', array( 'wcbridge:42:underpaid', 'wcbridge:42:paid' ), array( 'wcbridge:42:underpaid pending on-hold', 'wcbridge:42:paid on-hold processing' ) );
		$this->assertTrue( ( new Finisher( new MemoryLock() ) )->finish( $this->event( 'wcbridge:42:underpaid', 'on-hold', 'pending', 'on-hold' ) ) );
		$this->assertSame( array( 'SAVE' ), $this->fired() );
		$this->assertSame( array(), $GLOBALS['wcb']['orders'][123]['notes'] );
		$this->assertSame( array(), $GLOBALS['wcb']['attention'] );
	}

	/** @dataProvider unknown_to_the_database */
	public function test_event_not_in_the_database_answers_409( string $status, array $events, string $message ): void {
		// A signed "paid" for an order the sidecar never marked paid: nothing.
		$this->order( $status, $events );
		Notify_Endpoint::$finisher = new Finisher( new MemoryLock() );
		$got                       = Notify_Endpoint::handle( new WP_REST_Request( 'POST', array(), json_encode( $this->event( 'wcbridge:42:paid', 'paid', 'pending', 'processing' ) ) ) );
		$this->assertInstanceOf( WP_Error::class, $got );
		$this->assertSame( 409, $got->get_error_data()['status'] );
		$this->assertSame( $message, $got->get_error_message() );
		$this->assertSame( array(), $GLOBALS['wcb']['did'], 'nothing fired, nothing saved' );
		$this->assertSame( array(), $GLOBALS['wcb']['orders'][123]['notes'] );
		$this->assertSame( array(), $GLOBALS['wcb']['attention'] );
	}

	public function unknown_to_the_database(): array {
		return array(
			'pending, never paid'              => array( 'pending', array(), 'the order is not paid in the database' ),
			'another event applied, not this' => array( 'on-hold', array( 'wcbridge:42:underpaid' ), 'the order is not paid in the database' ),
			'paid, but not by this event'      => array( 'processing', array( 'wcbridge:41:paid' ), 'the change this event reports is not in the database' ),
		);
	}

	// --- 3. Tell the shop what needs a human ----------------------------------

	/** @dataProvider attention */
	public function test_shop_email_when_a_human_is_needed( string $event_id, string $outcome, string $from, string $to, array $payment, array $codes, string $text ): void {
		$this->order( $to, array( $event_id ), $from !== $to ? array( "$event_id $from $to" ) : array() );
		$event            = $this->event( $event_id, $outcome, $from, $to );
		$event['payment'] = array_merge( $event['payment'], $payment );
		( new Finisher( new MemoryLock() ) )->finish( $event );
		$sent = $GLOBALS['wcb']['attention'];
		$this->assertSame( $codes, array_column( $sent[0]['findings'] ?? array(), 'code' ) );
		if ( array() !== $codes ) {
			$this->assertStringContainsString( $text, strip_tags( implode( ' ', array_column( $sent[0]['findings'], 'text' ) ) ) );
		}
	}

	public function attention(): array {
		return array(
			'underpaid'             => array( 'wcbridge:42:underpaid', 'on-hold', 'pending', 'on-hold', array( 'status' => 'underpaid', 'received' => '20.00', 'shortfall' => '5.00' ), array( 'underpaid' ), '&euro;20.00 of &euro;25.00 received via CryptoCloud, &euro;5.00 missing' ),
			'overpaid'              => array( 'wcbridge:42:overpaid', 'paid', 'pending', 'processing', array( 'status' => 'overpaid', 'received' => '27.50', 'excess' => '2.50' ), array( 'overpaid' ), '&euro;2.50 too much' ),
			'paid twice'            => array( 'wcbridge:43:paid:second', 'note', 'processing', 'processing', array( 'status' => 'paid', 'gateway_payment_id' => 'INV-SECOND' ), array( 'paid_twice' ), 'A second payment of &euro;25.00 was received via CryptoCloud (payment INV-SECOND)' ),
			'paid after cancelled'  => array( 'wcbridge:42:paid', 'paid', 'cancelled', 'processing', array(), array( 'paid_late' ), 'Paid late: &euro;25.00 arrived via CryptoCloud after the order was cancelled' ),
			'paid after expiry'     => array( 'wcbridge:42:paid', 'paid', 'pending', 'processing', array( 'expires_at' => '2026-11-21T17:00:00Z' ), array( 'paid_late' ), 'Paid late' ),
			'late and overpaid'     => array( 'wcbridge:42:overpaid', 'paid', 'cancelled', 'processing', array( 'status' => 'overpaid', 'received' => '30', 'excess' => '5' ), array( 'overpaid', 'paid_late' ), '&euro;5.00 too much' ),
			'money, order can\'t change' => array( 'wcbridge:42:overpaid', 'note', 'completed', 'completed', array( 'status' => 'overpaid', 'received' => '30' ), array( 'needs_check' ), 'A payment of &euro;30.00 arrived via CryptoCloud (payment INV-ABCD1234) for an order whose status ("Completed") did not let it change' ),
			'plain payment: no one' => array( 'wcbridge:42:paid', 'paid', 'pending', 'processing', array(), array(), '' ),
			'expired: no one'       => array( 'wcbridge:42:expired', 'cancelled', 'pending', 'cancelled', array( 'status' => 'expired' ), array(), '' ),
		);
	}

	/** @dataProvider on_hold_emails */
	public function test_customer_on_hold_email_says_what_is_missing( bool $plain, string $missing, string $link, array $figures ): void {
		$this->order( 'on-hold', array(), array(), array_merge( $figures, array( '_wcbridge_pay_url' => 'https://pay.cryptocloud.test/INV-ABCD1234' ) ) );
		ob_start();
		Emails::on_hold_details( wc_get_order( 123 ), false, $plain, (object) array( 'id' => 'customer_on_hold_order' ) );
		$out = (string) ob_get_clean();
		$this->assertStringContainsString( $missing, strip_tags( $out ) );
		$this->assertStringContainsString( $link, $out );

		// Not for the shop's copy, not in other e-mails, not when nothing is missing.
		foreach ( array( array( true, 'customer_on_hold_order' ), array( false, 'customer_processing_order' ) ) as list( $admin, $id ) ) {
			ob_start();
			Emails::on_hold_details( wc_get_order( 123 ), $admin, $plain, (object) array( 'id' => $id ) );
			$this->assertSame( '', ob_get_clean() );
		}
	}

	public function on_hold_emails(): array {
		$figures = array( '_wcbridge_payment' => '{"status":"underpaid","amount":"25.00","currency":"EUR","received":"19.99","tx_ref":"0xabc"}' );
		// An order written before _wcbridge_payment: one meta key per figure.
		$older = array(
			'_wcbridge_payment_status' => 'underpaid',
			'_wcbridge_amount'         => '25.00',
			'_wcbridge_received'       => '19.99',
			'_wcbridge_currency'       => 'EUR',
		);
		return array(
			'html'         => array( false, '&euro;5.01 is still missing', 'href="https://pay.cryptocloud.test/INV-ABCD1234"', $figures ),
			'plain'        => array( true, '&amp;euro;5.01 is still missing', 'Pay the rest here: https://pay.cryptocloud.test/INV-ABCD1234', $figures ),
			'html, older'  => array( false, '&euro;5.01 is still missing', 'href="https://pay.cryptocloud.test/INV-ABCD1234"', $older ),
			'plain, older' => array( true, '&amp;euro;5.01 is still missing', 'Pay the rest here: https://pay.cryptocloud.test/INV-ABCD1234', $older ),
		);
	}

	public function test_nothing_missing_once_paid(): void {
		$this->order(
			'processing',
			array(),
			array(),
			array(
				'_wcbridge_payment'        => '{"status":"paid","amount":"25.00","currency":"EUR","received":"25.00"}',
				// Left by an outcome applied before _wcbridge_payment existed.
				'_wcbridge_payment_status' => 'underpaid',
				'_wcbridge_amount'         => '25.00',
				'_wcbridge_received'       => '19.99',
				'_wcbridge_currency'       => 'EUR',
			)
		);
		$this->assertNull( Emails::missing( wc_get_order( 123 ) ) );
	}

	/** @dataProvider payment_metas */
	public function test_payment_meta( array $meta, array $want ): void {
		wcb_add_order( 7, array( 'meta' => $meta ) );
		$this->assertSame( $want, Plugin::payment_meta( wc_get_order( 7 ) ) );
	}

	public function payment_metas(): array {
		$none  = array(
			'status'   => '',
			'amount'   => '',
			'currency' => '',
			'received' => '',
			'tx_ref'   => '',
		);
		$older = array(
			'_wcbridge_payment_status' => 'underpaid',
			'_wcbridge_amount'         => '40',
			'_wcbridge_currency'       => 'USD',
			'_wcbridge_received'       => '36',
			'_wcbridge_tx_ref'         => '0xold',
		);
		$from_older = array(
			'status'   => 'underpaid',
			'amount'   => '40',
			'currency' => 'USD',
			'received' => '36',
			'tx_ref'   => '0xold',
		);
		return array(
			'one JSON row'                   => array(
				array( '_wcbridge_payment' => '{"status":"paid","amount":"25.00","currency":"USD","received":"25.00","tx_ref":"0xabc"}' ),
				array(
					'status'   => 'paid',
					'amount'   => '25.00',
					'currency' => 'USD',
					'received' => '25.00',
					'tx_ref'   => '0xabc',
				),
			),
			'received and tx_ref left out'   => array(
				array( '_wcbridge_payment' => '{"status":"paid","amount":"19.99","currency":"EUR"}' ),
				array_merge(
					$none,
					array(
						'status'   => 'paid',
						'amount'   => '19.99',
						'currency' => 'EUR',
					)
				),
			),
			'escaped text, unknown fields'   => array(
				array( '_wcbridge_payment' => '{"status":"overpaid","amount":"1","currency":"USD","received":"2","tx_ref":"a\\"b\u003c","later":"x"}' ),
				array(
					'status'   => 'overpaid',
					'amount'   => '1',
					'currency' => 'USD',
					'received' => '2',
					'tx_ref'   => 'a"b<',
				),
			),
			'JSON row wins over older keys'  => array(
				array_merge( $older, array( '_wcbridge_payment' => '{"status":"paid","amount":"40","currency":"USD","received":"40"}' ) ),
				array_merge(
					$none,
					array(
						'status'   => 'paid',
						'amount'   => '40',
						'currency' => 'USD',
						'received' => '40',
					)
				),
			),
			'older order: one key a figure'  => array( $older, $from_older ),
			'invalid JSON: older keys'       => array( array_merge( $older, array( '_wcbridge_payment' => '{"status":"paid",' ) ), $from_older ),
			'not an object: older keys'      => array( array_merge( $older, array( '_wcbridge_payment' => '["paid"]' ) ), $from_older ),
			'no status: older keys'          => array( array_merge( $older, array( '_wcbridge_payment' => '{"amount":"40"}' ) ), $from_older ),
			'nested: older keys'             => array( array_merge( $older, array( '_wcbridge_payment' => '{"status":{"x":"paid"}}' ) ), $from_older ),
			'not a string: older keys'       => array( array_merge( $older, array( '_wcbridge_payment' => array( 'status' => 'paid' ) ) ), $from_older ),
			'figure not a string: left out'  => array(
				array( '_wcbridge_payment' => '{"status":"paid","amount":25,"currency":"USD"}' ),
				array_merge(
					$none,
					array(
						'status'   => 'paid',
						'currency' => 'USD',
					)
				),
			),
			'invalid JSON, no older keys'    => array( array( '_wcbridge_payment' => 'paid' ), $none ),
			'nothing'                        => array( array(), $none ),
		);
	}

	public function test_missing_amount_is_exact(): void {
		$this->assertSame( '0.00000001', Emails::subtract( '100.00000001', '100' ) );
		$this->assertSame( '5.01', Emails::subtract( '25.00', '19.99' ) );
		$this->assertNull( Emails::subtract( '25', '25.00' ), 'nothing missing' );
		$this->assertNull( Emails::subtract( '25', '30' ), 'overpaid' );
	}

	// --- The lock and the input ---------------------------------------------

	public function test_concurrent_delivery_waits_for_the_lock(): void {
		$this->order( 'processing', array( 'wcbridge:42:paid' ), array( 'wcbridge:42:paid pending processing' ) );
		$lock = new MemoryLock();
		$lock->acquire( 'wcbridge_finish_123', 0 ); // Another process is finishing this order.
		$got = ( new Finisher( $lock ) )->finish( $this->event( 'wcbridge:42:paid', 'paid', 'pending', 'processing' ) );
		$this->assertInstanceOf( WP_Error::class, $got );
		$this->assertSame( 503, $got->get_error_data()['status'] );
		$this->assertSame( array(), $GLOBALS['wcb']['did'] );
		$this->assertSame( '', $GLOBALS['wcb']['orders'][123]['meta']['_wcbridge_finished'] ?? '' );
	}

	public function test_invalid_and_unknown(): void {
		$f = new Finisher( new MemoryLock() );
		$this->assertSame( 400, $f->finish( array( 'order_id' => 1 ) )->get_error_data()['status'] );
		$this->assertSame( 400, $f->finish( $this->event( 'e', 'refunded', 'processing', 'refunded' ) )->get_error_data()['status'] );
		$this->assertSame( 410, $f->finish( $this->event( 'e', 'paid', 'pending', 'processing' ) )->get_error_data()['status'] );
	}

	public function test_events_are_remembered_per_event_id(): void {
		$this->order( 'on-hold', array( 'wcbridge:42:underpaid', 'wcbridge:42:underpaid:note' ), array( 'wcbridge:42:underpaid pending on-hold' ) );
		$f = new Finisher( new MemoryLock() );
		$this->assertTrue( $f->finish( $this->event( 'wcbridge:42:underpaid', 'on-hold', 'pending', 'on-hold' ) ) );
		$this->assertTrue( $f->finish( $this->event( 'wcbridge:42:underpaid:note', 'note', 'on-hold', 'on-hold' ) ) );
		$this->assertFalse( $f->finish( $this->event( 'wcbridge:42:underpaid', 'on-hold', 'pending', 'on-hold' ) ) );
		$this->assertSame( array( 'wcbridge:42:underpaid', 'wcbridge:42:underpaid:note' ), $GLOBALS['wcb']['orders'][123]['meta']['_wcbridge_finished'] );
	}

	public function test_order_cancelled_in_wordpress_cancels_its_crypto_payments(): void {
		$this->order( 'cancelled', array(), array(), array( '_wcbridge_payment_ref' => '42' ) );
		$calls                  = array();
		$GLOBALS['wcb']['http'] = static function ( $url, $args ) use ( &$calls ) {
			$calls[] = $args['method'] . ' ' . wp_parse_url( $url, PHP_URL_PATH );
			return array( 'response' => array( 'code' => 200 ), 'body' => '{"state":"cancelled"}' );
		};
		update_option( 'wcbridge_settings', array( 'sidecar_url' => 'http://127.0.0.1:1', 'shared_secret' => self::SECRET ) );
		Plugin::order_left_wcbridge( 123, 'pending', 'cancelled', wc_get_order( 123 ) );
		$this->assertSame( array( 'POST /v1/orders/123/cancel-payments' ), $calls );

		// Switched to another method and paid: also cancelled at the gateway.
		$calls = array();
		$GLOBALS['wcb']['orders'][123]['payment_method'] = 'bacs';
		Plugin::order_left_wcbridge( 123, 'pending', 'on-hold', wc_get_order( 123 ) );
		$this->assertSame( array( 'POST /v1/orders/123/cancel-payments' ), $calls );

		// Not for the sidecar's own changes, not for orders without a crypto payment.
		$calls             = array();
		Finisher::$current = array( 'order_id' => 123 );
		Plugin::order_left_wcbridge( 123, 'pending', 'cancelled', wc_get_order( 123 ) );
		Finisher::$current = null;
		$GLOBALS['wcb']['orders'][123]['meta'] = array();
		Plugin::order_left_wcbridge( 123, 'pending', 'cancelled', wc_get_order( 123 ) );
		$this->assertSame( array(), $calls );
	}

	// --- The REST endpoint --------------------------------------------------

	private function signed_request( string $body, int $ts, string $path = '/wp-json/wcbridge/v1/notify' ): WP_REST_Request {
		$_SERVER['REQUEST_URI'] = $path;
		return new WP_REST_Request( 'POST', Signer::headers( self::SECRET, 'POST', $path, $body, $ts ), $body );
	}

	public function test_notify_permission_checks_signature_over_raw_body(): void {
		update_option( 'wcbridge_settings', array( 'shared_secret' => self::SECRET ) );
		Notify_Endpoint::$guard = new Replay_Guard( new MemoryLock() );
		$body                   = json_encode( $this->event( 'wcbridge:42:paid', 'paid', 'pending', 'processing' ) );

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
		$body = json_encode( $this->event( 'wcbridge:42:paid', 'paid', 'pending', 'processing' ) );
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
		$body                   = json_encode( $this->event( 'wcbridge:42:paid', 'paid', 'pending', 'processing' ) );
		$_SERVER['REQUEST_URI'] = '/wp-json/wcbridge/v1/notify';
		$req                    = new WP_REST_Request( 'POST', Signer::headers( 'change-me-to-a-long-random-string-of-32+-chars', 'POST', '/wp-json/wcbridge/v1/notify', $body, time() ), $body );
		$this->assertSame( 401, Notify_Endpoint::permission( $req )->get_error_data()['status'], 'a placeholder secret verifies nothing' );
	}

	public function test_notify_answers_finished_true_then_false(): void {
		$this->order( 'processing', array( 'wcbridge:42:paid' ), array( 'wcbridge:42:paid pending processing' ) );
		Notify_Endpoint::$finisher = new Finisher( new MemoryLock() );
		$req                       = new WP_REST_Request( 'POST', array(), json_encode( $this->event( 'wcbridge:42:paid', 'paid', 'pending', 'processing' ) ) );

		$first = Notify_Endpoint::handle( $req );
		$this->assertSame( 200, $first->status );
		$this->assertSame( array( 'ok' => true, 'finished' => true ), $first->data );

		$second = Notify_Endpoint::handle( $req );
		$this->assertSame( array( 'ok' => true, 'finished' => false ), $second->data );

		$this->assertSame( 400, Notify_Endpoint::handle( new WP_REST_Request( 'POST', array(), 'not json' ) )->get_error_data()['status'] );
	}

	public function test_notify_takes_a_batch_and_answers_per_event(): void {
		// The sidecar sends several events in one request ({"events": [...]},
		// an order's events in order); the plugin answers for each.
		$this->order( 'processing', array( 'wcbridge:42:paid' ), array( 'wcbridge:42:paid pending processing' ) );
		wcb_add_order( 124, array( 'status' => 'pending' ) );
		Notify_Endpoint::$finisher = new Finisher( new MemoryLock() );
		$paid                      = $this->event( 'wcbridge:42:paid', 'paid', 'pending', 'processing' );
		$unknown                   = array_merge( $paid, array( 'order_id' => 124 ) );
		$gone                      = array_merge( $paid, array( 'order_id' => 999 ) );
		$body                      = json_encode( array( 'events' => array( $paid, $unknown, $gone, 'junk', $paid ) ) );
		$got                       = Notify_Endpoint::handle( new WP_REST_Request( 'POST', array(), $body ) );
		$this->assertSame( 200, $got->status );
		$this->assertTrue( $got->data['ok'] );
		$this->assertSame(
			array(
				array( 'wcbridge:42:paid', true, true, null ),
				array( 'wcbridge:42:paid', false, null, 409 ),
				array( 'wcbridge:42:paid', false, null, 410 ),
				array( '', false, null, 400 ),
				array( 'wcbridge:42:paid', true, false, null ),
			),
			array_map(
				static fn( $r ) => array( $r['event_id'], $r['ok'], $r['finished'] ?? null, $r['status'] ?? null ),
				$got->data['results']
			)
		);
		$this->assertSame( 1, count( array_keys( array_column( $GLOBALS['wcb']['did'], 0 ), 'woocommerce_payment_complete', true ) ), 'finished once' );

		// Out of time: the first event is finished, the rest are "retry".
		Notify_Endpoint::$batch_seconds = 0.0;
		try {
			$got = Notify_Endpoint::handle( new WP_REST_Request( 'POST', array(), json_encode( array( 'events' => array( $paid, $unknown ) ) ) ) );
		} finally {
			Notify_Endpoint::$batch_seconds = 7.0;
		}
		$this->assertSame( array( true, false ), array_column( $got->data['results'], 'ok' ) );
		$this->assertSame( 503, $got->data['results'][1]['status'] );
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
			'underpaid: keep'           => array( true, array( '_wcbridge_hold_until' => $past, '_wcbridge_payment' => '{"status":"underpaid","amount":"40","currency":"USD","received":"36"}' ), false ),
			'underpaid, no hold: keep'  => array( true, array( '_wcbridge_payment' => '{"status":"underpaid","amount":"40","currency":"USD"}' ), false ),
			'paid since: cancel'        => array( true, array( '_wcbridge_hold_until' => $past, '_wcbridge_payment' => '{"status":"paid","amount":"40","currency":"USD"}', '_wcbridge_payment_status' => 'underpaid' ), true ),
			'older order underpaid'     => array( true, array( '_wcbridge_hold_until' => $past, '_wcbridge_payment_status' => 'underpaid' ), false ),
			'invalid JSON, older keys'  => array( true, array( '_wcbridge_hold_until' => $past, '_wcbridge_payment' => '{"status":', '_wcbridge_payment_status' => 'underpaid' ), false ),
			'older order, hold passed'  => array( true, array( '_wcbridge_hold_until' => $past, '_wcbridge_payment_status' => 'waiting' ), true ),
			'garbage date: cancel'      => array( true, array( '_wcbridge_hold_until' => 'soon' ), true ),
			'WooCommerce would not'     => array( false, array( '_wcbridge_hold_until' => $future ), false ),
		);
	}

	/**
	 * WooCommerce 10.1 runs the unpaid-order job from Action Scheduler and
	 * 10.6 cancels Store API orders too; both still ask
	 * woocommerce_cancel_unpaid_order (wc_cancel_unpaid_orders() in 10.6),
	 * with "created via checkout" (10.0) or "checkout or store-api" (10.6) as
	 * the default. The plugin keeps a crypto order whatever the default and
	 * whoever runs the job.
	 *
	 * @dataProvider woocommerce_versions
	 */
	public function test_hold_stock_on_each_woocommerce( string $created_via, array $cancelled_via ): void {
		wcb_add_order( 8, array( 'meta' => array( '_wcbridge_hold_until' => gmdate( 'Y-m-d\TH:i:s\Z', time() + 600 ) ) ) );
		add_filter( 'woocommerce_cancel_unpaid_order', array( Plugin::class, 'keep_unpaid_order' ), 10, 2 );
		$default = in_array( $created_via, $cancelled_via, true );
		$this->assertFalse( apply_filters( 'woocommerce_cancel_unpaid_order', $default, wc_get_order( 8 ) ) );
		wcb_add_order( 9 );
		$this->assertSame( $default, apply_filters( 'woocommerce_cancel_unpaid_order', $default, wc_get_order( 9 ) ), 'other orders: WooCommerce decides' );
	}

	public function woocommerce_versions(): array {
		return array(
			'10.0, classic checkout'   => array( 'checkout', array( 'checkout' ) ),
			'10.6, classic checkout'   => array( 'checkout', array( 'checkout', 'store-api' ) ),
			'10.6, block checkout'     => array( 'store-api', array( 'checkout', 'store-api' ) ),
		);
	}
}
