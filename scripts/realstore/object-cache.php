<?php
/**
 * Test-only persistent object cache on APCu for scripts/realstore: a shop with
 * Redis or Memcached keeps WordPress's and WooCommerce's caches between
 * requests, and a change written behind WordPress's back (the sidecar's SQL)
 * stays invisible until someone clears them. APCu is shared by the php-fpm
 * workers of one pool, which is all the test needs. Never install it in a
 * shop; where APCu is off (the command line) it caches within the request
 * only, like WordPress without a drop-in.
 *
 * @package WCBridge
 */

declare(strict_types=1);

// phpcs:disable Squiz.Commenting.FunctionComment.Missing

/**
 * Wcbridge_RS_Cache is the cache: non-persistent groups and, without APCu,
 * everything in memory; the rest in APCu under a per-site salt.
 */
final class Wcbridge_RS_Cache {
	/** @var array<string,array<string,mixed>> */
	public $local = array();
	/** @var array<string,bool> */
	public $non_persistent = array();
	/** @var bool */
	public $apcu;
	/** @var string */
	private $salt;
	/** @var int */
	public $blog = 1;

	public function __construct() {
		$this->apcu = function_exists( 'apcu_enabled' ) && apcu_enabled();
		$this->salt = ( defined( 'WP_CACHE_KEY_SALT' ) ? WP_CACHE_KEY_SALT : DB_NAME ) . ':';
	}

	private function key( $key, string $group ): string {
		return $this->salt . ( '' === $group ? 'default' : $group ) . ':' . $key;
	}

	private function persistent( string $group ): bool {
		return $this->apcu && empty( $this->non_persistent[ $group ] );
	}

	public function get( $key, string $group, bool $force, &$found ) {
		$group = '' === $group ? 'default' : $group;
		if ( ! $force && array_key_exists( (string) $key, $this->local[ $group ] ?? array() ) ) {
			$found = true;
			$v     = $this->local[ $group ][ (string) $key ];
			return is_object( $v ) ? clone $v : $v;
		}
		if ( ! $this->persistent( $group ) ) {
			$found = false;
			return false;
		}
		$v = apcu_fetch( $this->key( $key, $group ), $found );
		if ( $found ) {
			$this->local[ $group ][ (string) $key ] = $v;
			return is_object( $v ) ? clone $v : $v;
		}
		return false;
	}

	public function set( $key, $data, string $group, int $expire ): bool {
		$group                                  = '' === $group ? 'default' : $group;
		$data                                   = is_object( $data ) ? clone $data : $data;
		$this->local[ $group ][ (string) $key ] = $data;
		if ( $this->persistent( $group ) ) {
			apcu_store( $this->key( $key, $group ), $data, max( 0, $expire ) );
		}
		return true;
	}

	public function add( $key, $data, string $group, int $expire ): bool {
		$found = false;
		$this->get( $key, $group, false, $found );
		return $found ? false : $this->set( $key, $data, $group, $expire );
	}

	public function replace( $key, $data, string $group, int $expire ): bool {
		$found = false;
		$this->get( $key, $group, false, $found );
		return $found ? $this->set( $key, $data, $group, $expire ) : false;
	}

	public function delete( $key, string $group ): bool {
		$group = '' === $group ? 'default' : $group;
		$had   = array_key_exists( (string) $key, $this->local[ $group ] ?? array() );
		unset( $this->local[ $group ][ (string) $key ] );
		if ( $this->persistent( $group ) ) {
			$had = apcu_delete( $this->key( $key, $group ) ) || $had;
		}
		return $had;
	}

	public function incr( $key, int $by, string $group, int $sign ) {
		$found = false;
		$v     = $this->get( $key, $group, false, $found );
		if ( ! $found ) {
			return false;
		}
		$v = max( 0, (int) $v + $sign * $by );
		$this->set( $key, $v, $group, 0 );
		return $v;
	}

	public function flush(): bool {
		$this->local = array();
		if ( $this->apcu ) {
			apcu_clear_cache();
		}
		return true;
	}

	public function flush_group( string $group ): bool {
		unset( $this->local[ $group ] );
		if ( $this->apcu && class_exists( 'APCUIterator' ) ) {
			apcu_delete( new APCUIterator( '/^' . preg_quote( $this->salt . $group . ':', '/' ) . '/' ) );
		}
		return true;
	}
}

function wp_cache_init() {
	$GLOBALS['wp_object_cache'] = new Wcbridge_RS_Cache();
}
function wp_cache_add( $key, $data, $group = '', $expire = 0 ) {
	return $GLOBALS['wp_object_cache']->add( $key, $data, (string) $group, (int) $expire );
}
function wp_cache_add_multiple( array $data, $group = '', $expire = 0 ) {
	$out = array();
	foreach ( $data as $k => $v ) {
		$out[ $k ] = wp_cache_add( $k, $v, $group, $expire );
	}
	return $out;
}
function wp_cache_replace( $key, $data, $group = '', $expire = 0 ) {
	return $GLOBALS['wp_object_cache']->replace( $key, $data, (string) $group, (int) $expire );
}
function wp_cache_set( $key, $data, $group = '', $expire = 0 ) {
	return $GLOBALS['wp_object_cache']->set( $key, $data, (string) $group, (int) $expire );
}
function wp_cache_set_multiple( array $data, $group = '', $expire = 0 ) {
	$out = array();
	foreach ( $data as $k => $v ) {
		$out[ $k ] = wp_cache_set( $k, $v, $group, $expire );
	}
	return $out;
}
function wp_cache_get( $key, $group = '', $force = false, &$found = null ) {
	return $GLOBALS['wp_object_cache']->get( $key, (string) $group, (bool) $force, $found );
}
function wp_cache_get_multiple( $keys, $group = '', $force = false ) {
	$out = array();
	foreach ( $keys as $k ) {
		$out[ $k ] = wp_cache_get( $k, $group, $force );
	}
	return $out;
}
function wp_cache_delete( $key, $group = '' ) {
	return $GLOBALS['wp_object_cache']->delete( $key, (string) $group );
}
function wp_cache_delete_multiple( array $keys, $group = '' ) {
	$out = array();
	foreach ( $keys as $k ) {
		$out[ $k ] = wp_cache_delete( $k, $group );
	}
	return $out;
}
function wp_cache_incr( $key, $offset = 1, $group = '' ) {
	return $GLOBALS['wp_object_cache']->incr( $key, (int) $offset, (string) $group, 1 );
}
function wp_cache_decr( $key, $offset = 1, $group = '' ) {
	return $GLOBALS['wp_object_cache']->incr( $key, (int) $offset, (string) $group, -1 );
}
function wp_cache_flush() {
	return $GLOBALS['wp_object_cache']->flush();
}
function wp_cache_flush_runtime() {
	$GLOBALS['wp_object_cache']->local = array();
	return true;
}
function wp_cache_flush_group( $group ) {
	return $GLOBALS['wp_object_cache']->flush_group( (string) $group );
}
function wp_cache_supports( $feature ) {
	return in_array( $feature, array( 'add_multiple', 'set_multiple', 'get_multiple', 'delete_multiple', 'flush_runtime', 'flush_group' ), true );
}
function wp_cache_close() {
	return true;
}
function wp_cache_add_global_groups( $groups ) {
}
function wp_cache_add_non_persistent_groups( $groups ) {
	foreach ( (array) $groups as $g ) {
		$GLOBALS['wp_object_cache']->non_persistent[ $g ] = true;
	}
}
function wp_cache_switch_to_blog( $blog_id ) {
	$GLOBALS['wp_object_cache']->blog = (int) $blog_id;
}
function wp_cache_reset() {
	$GLOBALS['wp_object_cache']->local = array();
}
