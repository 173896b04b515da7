<?php
declare(strict_types=1);

use PHPUnit\Framework\TestCase;

/**
 * Two PHP processes deliver the same notification at the same moment; the
 * MySQL named lock (Db_Lock) must let only one of them do the work.
 * Needs the local MariaDB/MySQL (127.0.0.1:3306, root without password).
 */
final class ConcurrencyTest extends TestCase {
	public function test_same_event_delivered_twice_concurrently_is_finished_once(): void {
		$db = @new mysqli( '127.0.0.1', 'root', '', '', 3306 );
		$this->assertSame( 0, $db->connect_errno, 'MariaDB must be reachable on 127.0.0.1:3306 for this test' );

		$dir    = sys_get_temp_dir() . '/wcbridge-conc-' . getmypid();
		@mkdir( $dir );
		$orders = $dir . '/orders.json';
		$calls  = $dir . '/calls.jsonl';
		@unlink( $calls );
		file_put_contents(
			$orders,
			json_encode(
				array(
					123 => array(
						'key'            => 'k',
						'status'         => 'processing',
						'payment_method' => 'wcbridge_streampay',
						'meta'           => array(),
						'multi'          => array(
							'_wcbridge_event'      => array( 'wcbridge:42:paid' ),
							'_wcbridge_transition' => array( 'wcbridge:42:paid pending processing' ),
						),
						'notes'          => array(),
					),
				)
			)
		);
		$event = json_encode( array( 'event_id' => 'wcbridge:42:paid', 'order_id' => 123, 'outcome' => 'paid', 'from_status' => 'pending', 'to_status' => 'processing', 'transaction_id' => 't' ) );

		$procs = array();
		for ( $i = 0; $i < 2; $i++ ) {
			$procs[] = proc_open(
				array( PHP_BINARY, __DIR__ . '/concurrent-child.php', $calls, $event ),
				array( 1 => array( 'file', $dir . '/out.log', 'a' ), 2 => array( 'file', $dir . '/out.log', 'a' ) ),
				$pipes,
				null,
				array_merge( getenv(), array( 'WCB_ORDERS_FILE' => $orders ) )
			);
		}
		foreach ( $procs as $p ) {
			$this->assertSame( 0, proc_close( $p ), (string) @file_get_contents( $dir . '/out.log' ) );
		}

		$results = array_map( static fn( $l ) => json_decode( $l, true ), array_filter( explode( "\n", (string) file_get_contents( $calls ) ) ) );
		$this->assertCount( 2, $results );
		$finished = array_column( $results, 'result' );
		sort( $finished );
		$this->assertSame( array( false, true ), $finished, 'one process finished the event, the other saw it finished' );
		$fired = array_merge( ...array_column( $results, 'fired' ) );
		$this->assertSame( 1, count( array_keys( $fired, 'woocommerce_payment_complete', true ) ), 'the payment transition was replayed once' );
		$this->assertSame( 1, count( array_keys( $fired, 'woocommerce_order_status_pending_to_processing', true ) ) );
		$stored = json_decode( (string) file_get_contents( $orders ), true );
		$this->assertSame( array( 'wcbridge:42:paid' ), $stored[123]['meta']['_wcbridge_finished'] );
	}
}
