<?php
/**
 * Starts tests/fake-sidecar.php under `php -S` on a free loopback port.
 */

declare(strict_types=1);

final class FakeSidecar {
	/** A shared secret as `openssl rand -hex 32` makes one. */
	public const SECRET = '24db1f693812f2d50a9d6495829333dff7222b141e1a4399e7c6a461e36bd14e';

	public $url;
	public $dir;
	private $proc;

	public function __construct() {
		$this->dir = sys_get_temp_dir() . '/wcbridge-fake-' . getmypid() . '-' . bin2hex( random_bytes( 3 ) );
		mkdir( $this->dir );
		file_put_contents( $this->dir . '/answers.json', '{}' );
		for ( $attempt = 0; $attempt < 5; $attempt++ ) {
			$port = random_int( 20000, 40000 );
			$env  = array_merge( getenv(), array( 'WCB_FAKE_DIR' => $this->dir, 'WCB_FAKE_SECRET' => self::SECRET ) );
			$cmd  = array( PHP_BINARY, '-S', '127.0.0.1:' . $port, __DIR__ . '/fake-sidecar.php' );
			$this->proc = proc_open( $cmd, array( 0 => array( 'pipe', 'r' ), 1 => array( 'file', $this->dir . '/server.log', 'a' ), 2 => array( 'file', $this->dir . '/server.log', 'a' ) ), $pipes, null, $env );
			for ( $i = 0; $i < 50; $i++ ) {
				$sock = @fsockopen( '127.0.0.1', $port, $errno, $errstr, 0.1 );
				if ( $sock ) {
					fclose( $sock );
					$this->url = 'http://127.0.0.1:' . $port;
					return;
				}
				usleep( 50000 );
			}
			proc_terminate( $this->proc );
		}
		throw new RuntimeException( 'fake sidecar did not start' );
	}

	public function answer( string $method_path, int $status, $body, int $sleep = 0 ): void {
		$all                 = json_decode( (string) file_get_contents( $this->dir . '/answers.json' ), true ) ?: array();
		$all[ $method_path ] = array( 'status' => $status, 'body' => $body, 'sleep' => $sleep );
		file_put_contents( $this->dir . '/answers.json', json_encode( $all ) );
	}

	public function requests(): array {
		$file = $this->dir . '/requests.jsonl';
		if ( ! file_exists( $file ) ) {
			return array();
		}
		return array_map( static fn( $l ) => json_decode( $l, true ), array_filter( explode( "\n", (string) file_get_contents( $file ) ) ) );
	}

	public function reset(): void {
		@unlink( $this->dir . '/requests.jsonl' );
		file_put_contents( $this->dir . '/answers.json', '{}' );
	}

	public function stop(): void {
		if ( $this->proc ) {
			proc_terminate( $this->proc );
			proc_close( $this->proc );
			$this->proc = null;
		}
	}

	/** Points the plugin at this fake sidecar. */
	public function configure_plugin( string $secret = self::SECRET ): void {
		update_option( 'wcbridge_settings', array( 'sidecar_url' => $this->url, 'shared_secret' => $secret ) );
	}
}
