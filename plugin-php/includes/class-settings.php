<?php
/**
 * The plugin's own settings and the sidecar settings it pushes.
 *
 * @package WCBridge
 */

declare(strict_types=1);

namespace WCBridge;

defined( 'ABSPATH' ) || exit;

/**
 * Settings owns the option rows of the plugin. The sidecar URL and shared
 * secret live only in WordPress (or in wp-config.php constants); gateway
 * credentials and order rules are pushed to the sidecar with PUT /v1/settings,
 * and only their non-secret values are kept here, to show while the sidecar
 * is unreachable. Gateway secrets are never stored by the plugin: the
 * sidecar keeps them in its own table of the WordPress database, encrypted
 * with a key WordPress never sees (its secrets.key).
 */
final class Settings {

	public const OPTION        = 'wcbridge_settings';
	public const HEALTH        = 'wcbridge_sidecar_health';
	/** Seconds an answer of the sidecar counts as recent (checkout offers its methods). */
	public const HEALTH_OK_TTL = 300;
	/** Seconds a failed check is trusted before the sidecar is asked again. */
	public const HEALTH_FAIL_TTL = 60;
	public const GATEWAYS      = array( 'streampay', 'cryptocloud', 'bitstream' );
	public const SECRET_MIN    = 32;

	/**
	 * Sidecar_url is the sidecar's base URL (constant WCBRIDGE_SIDECAR_URL wins).
	 */
	public static function sidecar_url(): string {
		if ( defined( 'WCBRIDGE_SIDECAR_URL' ) ) {
			return (string) constant( 'WCBRIDGE_SIDECAR_URL' );
		}
		return (string) self::get( 'sidecar_url', '' );
	}

	/**
	 * Shared_secret is the HMAC secret (constant WCBRIDGE_SHARED_SECRET wins).
	 */
	public static function shared_secret(): string {
		if ( defined( 'WCBRIDGE_SHARED_SECRET' ) ) {
			return (string) constant( 'WCBRIDGE_SHARED_SECRET' );
		}
		return (string) self::get( 'shared_secret', '' );
	}

	/**
	 * Health is the sidecar's state as last seen: whether it answered and,
	 * per gateway, whether it is enabled and configured there. It is cached
	 * (5 minutes after an answer, 1 minute after a failure); when nothing is
	 * cached and $probe is true the sidecar is asked now, briefly and without
	 * calling any gateway (GET /v1/status?probe=0).
	 *
	 * @param bool $probe Ask the sidecar when nothing is cached.
	 * @return array{ok:bool,message:string,gateways:array,at:int}
	 */
	public static function health( bool $probe = true ): array {
		$cached = get_transient( self::HEALTH );
		if ( is_array( $cached ) && isset( $cached['ok'] ) ) {
			return array_merge(
				array(
					'message'  => '',
					'gateways' => array(),
					'at'       => 0,
				),
				$cached
			);
		}
		$client = Client::from_settings( 3 );
		if ( ! $client->is_configured() ) {
			return array(
				'ok'       => false,
				'message'  => __( 'The wcbridge sidecar URL or shared secret is not set.', 'wcbridge' ),
				'gateways' => array(),
				'at'       => 0,
			);
		}
		if ( ! $probe ) {
			return array(
				'ok'       => false,
				'message'  => __( 'The sidecar has not been asked yet.', 'wcbridge' ),
				'gateways' => array(),
				'at'       => 0,
			);
		}
		return self::remember_health( $client->status( false ) );
	}

	/**
	 * Remember_health caches what a status call (or a failed call) showed.
	 *
	 * @param array|\WP_Error $status GET /v1/status answer, or the error.
	 * @return array{ok:bool,message:string,gateways:array,at:int}
	 */
	public static function remember_health( $status ): array {
		$ok       = is_array( $status );
		$gateways = array();
		if ( $ok && isset( $status['gateways'] ) && is_array( $status['gateways'] ) ) {
			foreach ( $status['gateways'] as $name => $g ) {
				if ( in_array( $name, self::GATEWAYS, true ) && is_array( $g ) ) {
					$gateways[ $name ] = array(
						'enabled'    => ! empty( $g['enabled'] ),
						'configured' => ! empty( $g['configured'] ),
						'problem'    => isset( $g['problem'] ) && is_string( $g['problem'] ) ? $g['problem'] : '',
					);
				}
			}
		}
		$health = array(
			'ok'       => $ok,
			'message'  => $ok ? '' : ( is_wp_error( $status ) ? $status->get_error_message() : __( 'The sidecar gave no usable answer.', 'wcbridge' ) ),
			'gateways' => $gateways,
			'at'       => time(),
		);
		set_transient( self::HEALTH, $health, $ok ? self::HEALTH_OK_TTL : self::HEALTH_FAIL_TTL );
		return $health;
	}

	/**
	 * Gateway_ready says whether checkout may offer the gateway: the sidecar
	 * answered recently and has the gateway enabled and configured.
	 *
	 * @param string $gateway Gateway name.
	 * @param bool   $probe   Ask the sidecar when nothing is cached.
	 */
	public static function gateway_ready( string $gateway, bool $probe = true ): bool {
		$health = self::health( $probe );
		$g      = $health['gateways'][ $gateway ] ?? array();
		return ! empty( $health['ok'] ) && ! empty( $g['enabled'] ) && ! empty( $g['configured'] );
	}

	/**
	 * Get reads one value of the plugin's option.
	 *
	 * @param string $key     Key.
	 * @param mixed  $default Fallback.
	 * @return mixed
	 */
	public static function get( string $key, $default = null ) {
		$all = get_option( self::OPTION, array() );
		return is_array( $all ) && array_key_exists( $key, $all ) ? $all[ $key ] : $default;
	}

	/**
	 * Set writes values into the plugin's option (not autoloaded: it holds the secret).
	 *
	 * @param array $values Key => value.
	 */
	public static function set( array $values ): void {
		$all = get_option( self::OPTION, array() );
		$all = is_array( $all ) ? $all : array();
		update_option( self::OPTION, array_merge( $all, $values ), false );
	}

	/**
	 * Gateway_label is the customer-facing name of a gateway.
	 *
	 * @param string $gateway streampay, cryptocloud or bitstream.
	 */
	public static function gateway_label( string $gateway ): string {
		$labels = array(
			'streampay'   => 'StreamPay',
			'cryptocloud' => 'CryptoCloud',
			'bitstream'   => 'Bitstream',
		);
		return $labels[ $gateway ] ?? $gateway;
	}

	/**
	 * Sidecar_fields lists the settings pushed to the sidecar (the README's
	 * configuration reference, column "WP"), grouped for the settings page.
	 *
	 * @return array<string,array{label:string,type:string,group:string,options?:array,help?:string}>
	 */
	public static function sidecar_fields(): array {
		return array(
			'gateways.streampay.client_id'             => array(
				'group' => 'streampay',
				'type'  => 'text',
				'label' => __( 'Client ID', 'wcbridge' ),
				'help'  => __( 'The "API Integration Client ID" from the StreamPay dashboard.', 'wcbridge' ),
			),
			'gateways.streampay.secret_key'            => array(
				'group' => 'streampay',
				'type'  => 'secret',
				'label' => __( 'Secret key', 'wcbridge' ),
			),
			'gateways.streampay.native_token_amounts'  => array(
				'group' => 'streampay',
				'type'  => 'bool',
				'label' => __( 'Native token amounts', 'wcbridge' ),
				'help'  => __( 'StreamPay prices only in USD or EUR. When on, orders in any other currency are sent as an amount of StreamPay\'s native token: the shop\'s currency must then be that token.', 'wcbridge' ),
			),
			'gateways.streampay.native_token'          => array(
				'group' => 'streampay',
				'type'  => 'text',
				'label' => __( 'Native token label', 'wcbridge' ),
				'help'  => __( 'How the native token is named in order notes, e.g. STRM.', 'wcbridge' ),
			),
			'gateways.cryptocloud.api_key'             => array(
				'group' => 'cryptocloud',
				'type'  => 'secret',
				'label' => __( 'API key', 'wcbridge' ),
			),
			'gateways.cryptocloud.shop_id'             => array(
				'group' => 'cryptocloud',
				'type'  => 'text',
				'label' => __( 'Shop ID', 'wcbridge' ),
			),
			'gateways.cryptocloud.secret_key'          => array(
				'group' => 'cryptocloud',
				'type'  => 'secret',
				'label' => __( 'Secret key', 'wcbridge' ),
				'help'  => __( 'The project\'s secret key; it verifies CryptoCloud\'s notifications.', 'wcbridge' ),
			),
			'gateways.cryptocloud.allow_test_mode'     => array(
				'group' => 'cryptocloud',
				'type'  => 'bool',
				'label' => __( 'Allow test mode', 'wcbridge' ),
				'help'  => __( 'Accept test-mode notifications. Turn off in production.', 'wcbridge' ),
			),
			'gateways.cryptocloud.locale'              => array(
				'group'   => 'cryptocloud',
				'type'    => 'select',
				'label'   => __( 'Payment page language', 'wcbridge' ),
				'options' => array(
					''   => __( 'CryptoCloud\'s default', 'wcbridge' ),
					'en' => __( 'English', 'wcbridge' ),
					'ru' => __( 'Russian', 'wcbridge' ),
				),
			),
			'gateways.cryptocloud.available_currencies' => array(
				'group' => 'cryptocloud',
				'type'  => 'text',
				'label' => __( 'Coins offered', 'wcbridge' ),
				'help'  => __( 'Comma-separated, e.g. USDT_TRC20,BTC; empty: every coin of the project.', 'wcbridge' ),
			),
			'gateways.cryptocloud.token_leeway'        => array(
				'group' => 'cryptocloud',
				'type'  => 'text',
				'label' => __( 'Clock leeway', 'wcbridge' ),
				'help'  => __( 'Tolerance when checking a notification\'s expiry, e.g. 30s.', 'wcbridge' ),
			),
			'gateways.bitstream.api_key'               => array(
				'group' => 'bitstream',
				'type'  => 'secret',
				'label' => __( 'API key', 'wcbridge' ),
			),
			'gateways.bitstream.webhook_secret'        => array(
				'group' => 'bitstream',
				'type'  => 'secret',
				'label' => __( 'Webhook secret', 'wcbridge' ),
				'help'  => __( 'From the Bitstream dashboard\'s webhook settings, where the callback URL below goes. Without it webhooks are refused and payments are found by polling.', 'wcbridge' ),
			),
			'gateways.bitstream.currency'              => array(
				'group' => 'bitstream',
				'type'  => 'text',
				'label' => __( 'Token', 'wcbridge' ),
				'help'  => __( 'The token the shop charges in, e.g. usdc.', 'wcbridge' ),
			),
			'gateways.bitstream.currency_map'          => array(
				'group' => 'bitstream',
				'type'  => 'text',
				'label' => __( 'Currency to token', 'wcbridge' ),
				'help'  => __( 'Which token an order currency is charged in, one to one, e.g. USD=usdc,EUR=eurc.', 'wcbridge' ),
			),
			'gateways.bitstream.unit_decimals'         => array(
				'group' => 'bitstream',
				'type'  => 'number',
				'min'   => '1',
				'max'   => '36',
				'step'  => '1',
				'label' => __( 'Amount unit (decimals)', 'wcbridge' ),
				'help'  => __( 'Bitstream counts amounts in 10^-8 of the token (8), whatever the token\'s own decimals. Change only if Bitstream says otherwise.', 'wcbridge' ),
			),
			'gateways.bitstream.send_cancel_url'       => array(
				'group' => 'bitstream',
				'type'  => 'bool',
				'label' => __( 'Send the cancel URL', 'wcbridge' ),
				'help'  => __( 'Send cancelUrl with each checkout session (undocumented by Bitstream).', 'wcbridge' ),
			),
			'gateways.bitstream.send_expires_at'       => array(
				'group' => 'bitstream',
				'type'  => 'bool',
				'label' => __( 'Send the expiry', 'wcbridge' ),
				'help'  => __( 'Send expiresAt (now + the payment lifetime) with each checkout session.', 'wcbridge' ),
			),
			'gateways.bitstream.send_client_reference' => array(
				'group' => 'bitstream',
				'type'  => 'bool',
				'label' => __( 'Send the order reference', 'wcbridge' ),
				'help'  => __( 'Send clientReferenceId and metadata.order_id with each checkout session (undocumented by Bitstream).', 'wcbridge' ),
			),
			'gateways.bitstream.test_mode'             => array(
				'group' => 'bitstream',
				'type'  => 'bool',
				'label' => __( 'Test mode', 'wcbridge' ),
			),
			'woocommerce.paid_status'                  => array(
				'group'   => 'orders',
				'type'    => 'select',
				'label'   => __( 'Status of a paid order', 'wcbridge' ),
				'options' => array(
					'auto'       => __( 'As WooCommerce decides (processing; completed for virtual downloads)', 'wcbridge' ),
					'processing' => __( 'Processing', 'wcbridge' ),
					'completed'  => __( 'Completed', 'wcbridge' ),
				),
			),
			'orders.on_expired'                        => array(
				'group'   => 'orders',
				'type'    => 'select',
				'label'   => __( 'When a payment expires unpaid', 'wcbridge' ),
				'options' => array(
					'cancel'        => __( 'Cancel the order', 'wcbridge' ),
					'leave_pending' => __( 'Leave the order pending payment', 'wcbridge' ),
				),
			),
			'orders.on_late_payment'                   => array(
				'group'   => 'orders',
				'type'    => 'select',
				'label'   => __( 'When a payment arrives after expiry', 'wcbridge' ),
				'options' => array(
					'processing' => __( 'Mark the order processing', 'wcbridge' ),
					'on-hold'    => __( 'Put the order on hold for review', 'wcbridge' ),
				),
			),
			'payments.lifetime'                        => array(
				'group' => 'orders',
				'type'  => 'text',
				'label' => __( 'Payment lifetime', 'wcbridge' ),
				'help'  => __( 'How long a new payment can be paid, e.g. 1h (CryptoCloud; StreamPay and Bitstream set their own).', 'wcbridge' ),
			),
			'payments.late_payment_grace'              => array(
				'group' => 'orders',
				'type'  => 'text',
				'label' => __( 'Late payment grace', 'wcbridge' ),
				'help'  => __( 'How long after a payment expired WooCommerce\'s hold-stock timer is kept off the order, e.g. 24h.', 'wcbridge' ),
			),
			'payments.underpaid_tolerance_percent'     => array(
				'group' => 'orders',
				'type'  => 'number',
				'min'   => '0',
				'max'   => '10',
				'step'  => '0.01',
				'label' => __( 'Underpayment tolerance (%)', 'wcbridge' ),
				'help'  => __( 'A payment short by at most this share of the total counts as paid (0 to 10).', 'wcbridge' ),
			),
			'payments.underpaid_tolerance_fixed'       => array(
				'group' => 'orders',
				'type'  => 'number',
				'min'   => '0',
				'max'   => '1000',
				'step'  => 'any',
				'label' => __( 'Underpayment tolerance (amount)', 'wcbridge' ),
				'help'  => __( '...or by at most this amount in the order\'s currency (0 to 1000), whichever is larger.', 'wcbridge' ),
			),
		);
	}

	/**
	 * Enabled_key is the sidecar key that mirrors a payment method's "enabled" switch.
	 *
	 * @param string $gateway Gateway name.
	 */
	public static function enabled_key( string $gateway ): string {
		return 'gateways.' . $gateway . '.enabled';
	}

	/**
	 * Push_values turns the submitted settings form into the body of
	 * PUT /v1/settings: pinned keys are left out (the sidecar refuses them),
	 * an empty secret is left out (the stored one stays), booleans are sent
	 * as "true"/"false" like the sidecar's environment variables.
	 *
	 * @param array $submitted Key => raw submitted value (booleans: present or not).
	 * @param array $remote    The "settings" map of GET /v1/settings (may be empty).
	 * @return array<string,string>
	 */
	public static function push_values( array $submitted, array $remote ): array {
		$fields = self::sidecar_fields();
		foreach ( self::GATEWAYS as $gateway ) {
			$fields[ self::enabled_key( $gateway ) ] = array( 'type' => 'bool' );
		}
		$out = array();
		foreach ( $fields as $key => $field ) {
			if ( ! empty( $remote[ $key ]['pinned'] ) ) {
				continue;
			}
			$raw = $submitted[ $key ] ?? null;
			// A text field left as the sidecar reported it is not sent, so an
			// untouched empty field does not overwrite a default.
			if ( 'secret' !== $field['type'] && 'bool' !== $field['type'] && null !== $raw && isset( $remote[ $key ] ) && array_key_exists( 'value', $remote[ $key ] ) && self::same( $remote[ $key ]['value'], (string) $raw ) ) {
				continue;
			}
			switch ( $field['type'] ) {
				case 'bool':
					if ( null === $raw && ! isset( $remote[ $key ] ) ) {
						break; // Not on the form and unknown to the sidecar: nothing to say.
					}
					$on = ! empty( $raw ) && 'no' !== $raw;
					// An unchanged box is not sent: a box shown unticked because the
					// sidecar reports no value ("" = its default applies) must not
					// turn that default into an explicit "false".
					if ( isset( $remote[ $key ] ) && is_array( $remote[ $key ] ) && array_key_exists( 'value', $remote[ $key ] ) && self::truthy( $remote[ $key ]['value'] ) === $on ) {
						break;
					}
					$out[ $key ] = $on ? 'true' : 'false';
					break;
				case 'secret':
					$value = null === $raw ? '' : trim( (string) $raw );
					if ( '' !== $value ) {
						$out[ $key ] = $value;
					}
					break;
				case 'select':
					if ( null === $raw ) {
						break; // A shown select always submits a value.
					}
					$value = (string) $raw;
					if ( isset( $field['options'][ $value ] ) ) {
						$out[ $key ] = $value;
					}
					break;
				case 'number':
					// An empty number box means "not set here", not zero.
					$value = null === $raw ? '' : trim( (string) $raw );
					if ( '' !== $value ) {
						$out[ $key ] = sanitize_text_field( $value );
					}
					break;
				default:
					if ( null !== $raw ) {
						$out[ $key ] = sanitize_text_field( (string) $raw );
					}
			}
		}
		return $out;
	}

	/**
	 * Truthy reads a boolean as the sidecar reports it ("true", "false", "" or a bool).
	 *
	 * @param mixed $value Reported value.
	 */
	private static function truthy( $value ): bool {
		if ( is_bool( $value ) ) {
			return $value;
		}
		return in_array( strtolower( trim( is_scalar( $value ) ? (string) $value : '' ) ), array( 'true', '1', 'yes' ), true );
	}

	/**
	 * Same compares a reported value with a submitted string.
	 *
	 * @param mixed  $reported Value from GET /v1/settings.
	 * @param string $submitted Submitted value.
	 */
	private static function same( $reported, string $submitted ): bool {
		if ( is_array( $reported ) ) {
			$pairs = array();
			foreach ( $reported as $k => $v ) {
				$pairs[] = $k . '=' . ( is_scalar( $v ) ? (string) $v : '' );
			}
			$reported = implode( ',', $pairs );
		}
		return is_scalar( $reported ) && trim( (string) $reported ) === trim( $submitted );
	}

	/**
	 * Local_values are the non-secret pushed values, kept to show while the
	 * sidecar is unreachable.
	 *
	 * @param array $pushed Output of push_values().
	 * @return array<string,string>
	 */
	public static function local_values( array $pushed ): array {
		$fields = self::sidecar_fields();
		$out    = array();
		foreach ( $pushed as $key => $value ) {
			if ( isset( $fields[ $key ] ) && 'secret' === $fields[ $key ]['type'] ) {
				continue;
			}
			$out[ $key ] = $value;
		}
		return $out;
	}
}
