<?php
/**
 * Removes the plugin's options. Order meta stays: it documents past payments.
 *
 * The sidecar's own tables ({prefix}wcbridge_*: payments, callbacks,
 * notifications, the settings pushed from here, request ids) are the
 * sidecar's, and the plugin runs no SQL: they stay until whoever runs the
 * sidecar drops them with `wcbridge uninstall --yes` (see the README,
 * "Uninstalling").
 *
 * @package WCBridge
 */

declare(strict_types=1);

defined( 'WP_UNINSTALL_PLUGIN' ) || exit;

delete_option( 'wcbridge_settings' );
delete_option( 'wcbridge_notify_request_ids' );
delete_transient( 'wcbridge_sidecar_health' );
foreach ( array( 'streampay', 'cryptocloud', 'bitstream' ) as $wcbridge_gateway ) {
	delete_option( 'woocommerce_wcbridge_' . $wcbridge_gateway . '_settings' );
}
