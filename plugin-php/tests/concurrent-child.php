<?php
/**
 * One "PHP request" finishing a notification, for ConcurrencyTest: the
 * orders live in a shared JSON file and the lock is the real Db_Lock on
 * MariaDB/MySQL through a minimal $wpdb.
 *
 * Usage: WCB_ORDERS_FILE=... php concurrent-child.php <calls-file> <event-json>
 */

declare(strict_types=1);

require __DIR__ . '/bootstrap.php';

/** The two $wpdb methods Db_Lock uses, over mysqli. */
final class WCB_Wpdb {
	public $prefix = 'wp_';
	private $db;
	public function __construct() {
		$this->db = new mysqli( getenv( 'WCB_DB_HOST' ) ?: '127.0.0.1', 'root', '', '', (int) ( getenv( 'WCB_DB_PORT' ) ?: 3306 ) );
	}
	public function prepare( $query, ...$args ) {
		$i = 0;
		return preg_replace_callback(
			'/%[sd]/',
			function ( $m ) use ( &$i, $args ) {
				$v = $args[ $i++ ];
				return '%d' === $m[0] ? (string) (int) $v : "'" . $this->db->real_escape_string( (string) $v ) . "'";
			},
			$query
		);
	}
	public function get_var( $query ) {
		$row = $this->db->query( $query )->fetch_row();
		return null === $row ? null : $row[0];
	}
}
$GLOBALS['wpdb'] = new WCB_Wpdb();

/** A finisher whose work takes a while, so both processes overlap. */
final class Slow_Finisher extends \WCBridge\Finisher {
	protected function replay( $order, array $event, string $from, string $to, array $finished ): void {
		usleep( 400000 );
		parent::replay( $order, $event, $from, $to, $finished );
	}
}

$event  = json_decode( $argv[2], true );
$result = ( new Slow_Finisher() )->finish( $event );
$fired  = array_values( array_filter( array_column( $GLOBALS['wcb']['did'], 0 ), static fn( $h ) => 0 === strpos( (string) $h, 'woocommerce_' ) ) );
file_put_contents( $argv[1], json_encode( array( 'pid' => getmypid(), 'result' => is_wp_error( $result ) ? $result->get_error_code() : $result, 'fired' => $fired ) ) . "\n", FILE_APPEND | LOCK_EX );
