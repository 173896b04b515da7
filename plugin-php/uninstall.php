<?php
/**
 * Removes the plugin's options. Order meta stays: it documents past payments.
 *
 * @package WCBridge
 */

declare(strict_types=1);

defined( 'WP_UNINSTALL_PLUGIN' ) || exit;

delete_option( 'wcbridge_settings' );
delete_transient( 'wcbridge_sidecar_health' );
foreach ( array( 'streampay', 'cryptocloud', 'bitstream' ) as $wcbridge_gateway ) {
	delete_option( 'woocommerce_wcbridge_' . $wcbridge_gateway . '_settings' );
}
