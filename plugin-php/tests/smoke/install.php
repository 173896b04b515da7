<?php
/**
 * Installs WordPress into the smoke database and activates the plugin.
 * Usage: php install.php <wordpress-dir>
 */

declare(strict_types=1);

define( 'WP_INSTALLING', true );
$_SERVER['HTTP_HOST'] = 'smoke';
require $argv[1] . '/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
require_once ABSPATH . 'wp-admin/includes/plugin.php';

add_filter( 'pre_wp_mail', '__return_true' ); // No mail transport in CI.
$result = wp_install( 'wcbridge smoke', 'admin', 'admin@example.com', false, '', 'smoke-password-1' );
if ( empty( $result['user_id'] ) ) {
	fwrite( STDERR, "wp_install failed\n" );
	exit( 1 );
}
$activated = activate_plugin( 'wcbridge/wcbridge.php' );
if ( is_wp_error( $activated ) ) {
	fwrite( STDERR, 'activation failed: ' . $activated->get_error_message() . "\n" );
	exit( 1 );
}
if ( ! is_plugin_active( 'wcbridge/wcbridge.php' ) ) {
	fwrite( STDERR, "plugin is not active after activation\n" );
	exit( 1 );
}
echo 'WordPress ' . get_bloginfo( 'version' ) . " installed; wcbridge active\n";
