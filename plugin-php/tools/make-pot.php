<?php
/**
 * Writes languages/wcbridge.pot from the plugin's translation calls
 * (used where wp-cli's `wp i18n make-pot` is not available).
 *
 * Usage: php tools/make-pot.php
 *
 * @package WCBridge
 */

declare(strict_types=1);

$wcbridge_root = dirname( __DIR__ );
$wcbridge_msgs = array();
$wcbridge_it   = new RecursiveIteratorIterator( new RecursiveDirectoryIterator( $wcbridge_root, FilesystemIterator::SKIP_DOTS ) );
foreach ( $wcbridge_it as $wcbridge_file ) {
	$path = $wcbridge_file->getPathname();
	$rel  = substr( $path, strlen( $wcbridge_root ) + 1 );
	if ( '.php' !== substr( $path, -4 ) || 0 === strpos( $rel, 'tests/' ) || 0 === strpos( $rel, 'tools/' ) ) {
		continue;
	}
	$tokens = token_get_all( (string) file_get_contents( $path ) );
	$count  = count( $tokens );
	$note   = '';
	for ( $i = 0; $i < $count; $i++ ) {
		$t = $tokens[ $i ];
		if ( is_array( $t ) && T_COMMENT === $t[0] && false !== strpos( $t[1], 'translators:' ) ) {
			$note = trim( preg_replace( '#^/\*+|\*+/$|^//#', '', $t[1] ) );
			continue;
		}
		if ( ! is_array( $t ) || T_STRING !== $t[0] || ! in_array( $t[1], array( '__', '_e', 'esc_html__', 'esc_html_e', 'esc_attr__', 'esc_attr_e' ), true ) ) {
			continue;
		}
		$j = $i + 1;
		while ( $j < $count && is_array( $tokens[ $j ] ) && T_WHITESPACE === $tokens[ $j ][0] ) {
			$j++;
		}
		if ( '(' !== $tokens[ $j ] ) {
			continue;
		}
		$j++;
		while ( $j < $count && is_array( $tokens[ $j ] ) && T_WHITESPACE === $tokens[ $j ][0] ) {
			$j++;
		}
		if ( ! is_array( $tokens[ $j ] ) || T_CONSTANT_ENCAPSED_STRING !== $tokens[ $j ][0] ) {
			continue;
		}
		$msg = eval( 'return ' . $tokens[ $j ][1] . ';' ); // phpcs:ignore Squiz.PHP.Eval -- a PHP string literal from our own source.
		if ( ! isset( $wcbridge_msgs[ $msg ] ) ) {
			$wcbridge_msgs[ $msg ] = array( 'refs' => array(), 'note' => '' );
		}
		$wcbridge_msgs[ $msg ]['refs'][] = $rel . ':' . $t[2];
		if ( '' !== $note ) {
			$wcbridge_msgs[ $msg ]['note'] = $note;
			$note                          = '';
		}
	}
}
ksort( $wcbridge_msgs );

$wcbridge_escape = static function ( string $s ): string {
	return '"' . str_replace( array( '\\', '"', "\n", "\t" ), array( '\\\\', '\\"', '\\n', '\\t' ), $s ) . '"';
};
$wcbridge_out  = "# Copyright (C) wcbridge\n# This file is distributed under the GPL-2.0-or-later.\nmsgid \"\"\nmsgstr \"\"\n";
$wcbridge_out .= "\"Project-Id-Version: wcbridge\\n\"\n\"MIME-Version: 1.0\\n\"\n\"Content-Type: text/plain; charset=UTF-8\\n\"\n\"Content-Transfer-Encoding: 8bit\\n\"\n\"X-Domain: wcbridge\\n\"\n";
foreach ( $wcbridge_msgs as $msg => $info ) {
	$wcbridge_out .= "\n";
	if ( '' !== $info['note'] ) {
		$wcbridge_out .= '#. ' . $info['note'] . "\n";
	}
	$wcbridge_out .= '#: ' . implode( ' ', $info['refs'] ) . "\n";
	if ( false !== strpos( (string) $msg, '%' ) ) {
		$wcbridge_out .= "#, php-format\n";
	}
	$wcbridge_out .= 'msgid ' . $wcbridge_escape( (string) $msg ) . "\nmsgstr \"\"\n";
}
file_put_contents( $wcbridge_root . '/languages/wcbridge.pot', $wcbridge_out );
fwrite( STDOUT, count( $wcbridge_msgs ) . " strings\n" );
