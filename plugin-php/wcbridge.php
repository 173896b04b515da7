<?php
/**
 * Plugin Name:          wcbridge crypto payments
 * Plugin URI:           https://github.com/wcbridge/wcbridge
 * Update URI:           https://github.com/wcbridge/wcbridge
 * Description:          Crypto payments through StreamPay, CryptoCloud and Bitstream, processed by the wcbridge sidecar.
 * Version:              0.1.0
 * Requires at least:    6.1
 * Requires PHP:         8.1
 * Requires Plugins:     woocommerce
 * WC requires at least: 8.2
 * WC tested up to:      10.0.2
 * Author:               wcbridge
 * License:              GPL-2.0-or-later
 * License URI:          https://www.gnu.org/licenses/gpl-2.0.html
 * Text Domain:          wcbridge
 * Domain Path:          /languages
 *
 * @package WCBridge
 */

declare(strict_types=1);

defined( 'ABSPATH' ) || exit;

define( 'WCBRIDGE_VERSION', '0.1.0' );
define( 'WCBRIDGE_MIN_WC_VERSION', '8.2' );
define( 'WCBRIDGE_PLUGIN_FILE', __FILE__ );
define( 'WCBRIDGE_PLUGIN_DIR', plugin_dir_path( __FILE__ ) );
define( 'WCBRIDGE_PLUGIN_URL', plugin_dir_url( __FILE__ ) );

require_once WCBRIDGE_PLUGIN_DIR . 'includes/class-signer.php';
require_once WCBRIDGE_PLUGIN_DIR . 'includes/class-client.php';
require_once WCBRIDGE_PLUGIN_DIR . 'includes/class-settings.php';
require_once WCBRIDGE_PLUGIN_DIR . 'includes/class-plugin.php';

add_action(
	'before_woocommerce_init',
	static function () {
		if ( class_exists( \Automattic\WooCommerce\Utilities\FeaturesUtil::class ) ) {
			\Automattic\WooCommerce\Utilities\FeaturesUtil::declare_compatibility( 'custom_order_tables', __FILE__, true );
			\Automattic\WooCommerce\Utilities\FeaturesUtil::declare_compatibility( 'cart_checkout_blocks', __FILE__, true );
		}
	}
);

add_action( 'plugins_loaded', array( \WCBridge\Plugin::class, 'boot' ), 11 );
