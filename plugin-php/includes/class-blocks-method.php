<?php
/**
 * Block checkout integration of the payment methods.
 *
 * @package WCBridge
 */

declare(strict_types=1);

namespace WCBridge;

use Automattic\WooCommerce\Blocks\Payments\Integrations\AbstractPaymentMethodType;

defined( 'ABSPATH' ) || exit;

/**
 * Blocks_Method exposes one payment method to the block checkout. The
 * payment itself still runs through the gateway's process_payment().
 */
final class Blocks_Method extends AbstractPaymentMethodType {

	/**
	 * Sidecar gateway name.
	 *
	 * @var string
	 */
	private $gateway;

	/**
	 * Constructor.
	 *
	 * @param string $gateway streampay, cryptocloud or bitstream.
	 */
	public function __construct( string $gateway ) {
		$this->gateway = $gateway;
		$this->name    = 'wcbridge_' . $gateway;
	}

	/** Initialize reads the method's WooCommerce settings. */
	public function initialize() {
		$settings       = get_option( 'woocommerce_' . $this->name . '_settings', array() );
		$this->settings = is_array( $settings ) ? $settings : array();
	}

	/** Is_active follows the method's enabled switch. */
	public function is_active() {
		if ( empty( $this->settings ) ) {
			$this->initialize();
		}
		return 'yes' === ( $this->settings['enabled'] ?? 'no' );
	}

	/** Get_payment_method_script_handles registers the small hand-written script. */
	public function get_payment_method_script_handles() {
		wp_register_script(
			'wcbridge-blocks',
			WCBRIDGE_PLUGIN_URL . 'assets/blocks.js',
			array( 'wc-blocks-registry', 'wc-settings', 'wp-element', 'wp-html-entities' ),
			WCBRIDGE_VERSION,
			true
		);
		if ( function_exists( 'wp_set_script_translations' ) ) {
			wp_set_script_translations( 'wcbridge-blocks', 'wcbridge', WCBRIDGE_PLUGIN_DIR . 'languages' );
		}
		return array( 'wcbridge-blocks' );
	}

	/** Get_payment_method_data is what the script reads (paymentMethodData[name], or <name>_data before WooCommerce 9). */
	public function get_payment_method_data() {
		$gateways = function_exists( 'WC' ) ? WC()->payment_gateways()->payment_gateways() : array();
		$gateway  = $gateways[ $this->name ] ?? null;
		return array(
			'title'       => (string) ( $this->settings['title'] ?? Settings::gateway_label( $this->gateway ) ),
			'description' => (string) ( $this->settings['description'] ?? '' ),
			'icon'        => WCBRIDGE_PLUGIN_URL . 'assets/' . $this->gateway . '.svg',
			'supports'    => $gateway ? array_values( array_filter( $gateway->supports, array( $gateway, 'supports' ) ) ) : array( 'products' ),
		);
	}
}
