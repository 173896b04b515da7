<?php
/**
 * WooCommerce → Settings → wcbridge, the connection check and admin notices.
 *
 * @package WCBridge
 */

declare(strict_types=1);

namespace WCBridge;

defined( 'ABSPATH' ) || exit;

/**
 * Admin_Settings renders and saves the wcbridge settings tab. Secrets are
 * never printed back: password inputs stay empty and say "set" or "not set";
 * an empty submit keeps the stored value. Values the sidecar reports as
 * pinned are shown read-only and are not pushed.
 */
final class Admin_Settings {

	public const TAB         = 'wcbridge';

	/**
	 * A refused form's payment method values, shown again while rendering.
	 *
	 * @var array
	 */
	private static $draft_gateways = array();
	public const TEST_ACTION = 'wcbridge_test_connection';

	/**
	 * Hook registers the tab, the AJAX action and the notices.
	 */
	public static function hook(): void {
		add_filter( 'woocommerce_settings_tabs_array', array( self::class, 'add_tab' ), 50 );
		add_action( 'woocommerce_settings_' . self::TAB, array( self::class, 'render' ) );
		add_action( 'woocommerce_settings_save_' . self::TAB, array( self::class, 'save' ) );
		add_action( 'wp_ajax_' . self::TEST_ACTION, array( self::class, 'ajax_test_connection' ) );
		add_action( 'admin_notices', array( self::class, 'health_notice' ) );
		add_filter( 'plugin_action_links_' . plugin_basename( WCBRIDGE_PLUGIN_FILE ), array( self::class, 'action_links' ) );
	}

	/**
	 * Add_tab adds "wcbridge" to WooCommerce's settings tabs.
	 *
	 * @param array $tabs Tabs.
	 */
	public static function add_tab( $tabs ) {
		$tabs[ self::TAB ] = __( 'wcbridge', 'wcbridge' );
		return $tabs;
	}

	/**
	 * Action_links adds "Settings" on the plugins screen.
	 *
	 * @param array $links Links.
	 */
	public static function action_links( $links ) {
		array_unshift( $links, '<a href="' . esc_url( self::url() ) . '">' . esc_html__( 'Settings', 'wcbridge' ) . '</a>' );
		return $links;
	}

	/**
	 * Url of the settings tab.
	 */
	public static function url(): string {
		return admin_url( 'admin.php?page=wc-settings&tab=' . self::TAB );
	}

	/**
	 * Render prints the tab inside WooCommerce's settings form.
	 */
	public static function render(): void {
		if ( ! current_user_can( 'manage_woocommerce' ) ) {
			return;
		}
		$client = Client::from_settings( 5 );
		$remote = $client->is_configured() ? $client->get_settings() : null;
		$status = $client->is_configured() ? $client->status() : null;
		$rs     = is_array( $remote ) && isset( $remote['settings'] ) && is_array( $remote['settings'] ) ? $remote['settings'] : array();
		$local  = Settings::get( 'sidecar', array() );
		$local  = is_array( $local ) ? $local : array();
		// A form that was refused is shown again as it was typed (secrets aside).
		$draft = self::draft();
		if ( null !== $draft ) {
			delete_transient( self::draft_key() );
			foreach ( (array) $draft['sidecar'] as $key => $value ) {
				$local[ $key ] = $value;
				if ( isset( $rs[ $key ] ) && is_array( $rs[ $key ] ) && empty( $rs[ $key ]['pinned'] ) ) {
					$rs[ $key ]['value'] = $value;
				}
			}
			self::$draft_gateways = (array) $draft['gateways'];
		}

		wp_enqueue_script( 'wcbridge-admin', WCBRIDGE_PLUGIN_URL . 'assets/admin.js', array(), WCBRIDGE_VERSION, true );
		wp_localize_script(
			'wcbridge-admin',
			'wcbridgeAdmin',
			array(
				'ajaxUrl' => admin_url( 'admin-ajax.php' ),
				'action'  => self::TEST_ACTION,
				'nonce'   => wp_create_nonce( self::TEST_ACTION ),
				'i18n'    => array(
					'testing'     => __( 'Testing…', 'wcbridge' ),
					'failed'      => __( 'The sidecar could not be reached:', 'wcbridge' ),
					'version'     => __( 'Version', 'wcbridge' ),
					'storage'     => __( 'Storage mode', 'wcbridge' ),
					'database'    => __( 'Database', 'wcbridge' ),
					'backlog'     => __( 'Notifications waiting', 'wcbridge' ),
					'reachable'   => __( 'reachable', 'wcbridge' ),
					'unreachable' => __( 'NOT reachable', 'wcbridge' ),
					'disabled'    => __( 'disabled', 'wcbridge' ),
					'accepted'    => __( 'last callback accepted', 'wcbridge' ),
					'rejected'    => __( 'last callback rejected', 'wcbridge' ),
					'never'       => __( 'never', 'wcbridge' ),
					'payments'    => __( 'payments needing attention', 'wcbridge' ),
					'copy'        => __( 'Copy', 'wcbridge' ),
					'copied'      => __( 'Copied', 'wcbridge' ),
				),
			)
		);

		echo '<h2>' . esc_html__( 'Sidecar connection', 'wcbridge' ) . '</h2>';
		if ( is_wp_error( $remote ) ) {
			echo '<div class="notice notice-warning inline"><p>' . esc_html__( 'The sidecar could not be reached, so the values below are the last ones saved from this page and secrets show as unknown.', 'wcbridge' ) . ' ' . esc_html( $remote->get_error_message() ) . '</p></div>';
		}
		echo '<table class="form-table"><tbody>';

		$url_locked = defined( 'WCBRIDGE_SIDECAR_URL' );
		self::row(
			__( 'Sidecar URL', 'wcbridge' ),
			sprintf(
				'<input type="url" class="regular-text" name="wcbridge[sidecar_url]" value="%s" placeholder="http://127.0.0.1:8080" %s />',
				esc_attr( null !== $draft && null !== $draft['sidecar_url'] ? (string) $draft['sidecar_url'] : Settings::sidecar_url() ),
				$url_locked ? 'readonly="readonly"' : ''
			),
			$url_locked ? __( 'Set in wp-config.php (WCBRIDGE_SIDECAR_URL).', 'wcbridge' ) : __( 'Where WordPress reaches the sidecar, e.g. http://127.0.0.1:8080.', 'wcbridge' )
		);

		$secret_locked = defined( 'WCBRIDGE_SHARED_SECRET' );
		self::row(
			__( 'Shared secret', 'wcbridge' ),
			sprintf(
				'<input type="password" class="regular-text" name="wcbridge[shared_secret]" value="" autocomplete="new-password" %s /> %s',
				$secret_locked ? 'readonly="readonly"' : '',
				self::set_badge( '' !== Settings::shared_secret() )
			),
			$secret_locked
				? __( 'Set in wp-config.php (WCBRIDGE_SHARED_SECRET).', 'wcbridge' )
				: __( 'The same value as the sidecar\'s plugin.shared_secret, at least 32 characters. Leave empty to keep the current one.', 'wcbridge' )
		);

		self::row(
			__( 'Notification URL', 'wcbridge' ),
			'<code>' . esc_html( rest_url( 'wcbridge/v1/notify' ) ) . '</code>',
			__( 'The sidecar sends order changes here (its wordpress.notify_url).', 'wcbridge' )
		);

		self::row(
			__( 'Connection', 'wcbridge' ),
			'<button type="button" class="button" id="wcbridge-test-connection">' . esc_html__( 'Test connection', 'wcbridge' ) . '</button><div id="wcbridge-status-report" aria-live="polite"></div>',
			''
		);
		echo '</tbody></table>';
		if ( ! empty( $rs ) ) {
			// The sidecar fields below show the sidecar's values: saving may push them.
			echo '<input type="hidden" name="wcbridge[sidecar_loaded]" value="1" />';
		}

		$gateways_status = is_array( $status ) && isset( $status['gateways'] ) && is_array( $status['gateways'] ) ? $status['gateways'] : array();
		foreach ( Settings::GATEWAYS as $gateway ) {
			self::render_gateway( $gateway, $rs, $local, $gateways_status[ $gateway ] ?? array() );
		}

		echo '<h2>' . esc_html__( 'Orders and payments', 'wcbridge' ) . '</h2><table class="form-table"><tbody>';
		foreach ( Settings::sidecar_fields() as $key => $field ) {
			if ( 'orders' === $field['group'] ) {
				self::row( $field['label'], self::field_html( $key, $field, $rs, $local ), self::help( $key, $field, $rs ) );
			}
		}
		echo '</tbody></table>';
	}

	/**
	 * Render_gateway prints one gateway's section.
	 *
	 * @param string $gateway Gateway name.
	 * @param array  $rs      Remote settings.
	 * @param array  $local   Locally kept non-secret values.
	 * @param array  $status  The gateway's part of GET /v1/status.
	 */
	private static function render_gateway( string $gateway, array $rs, array $local, $status ): void {
		$opt = array_merge( self::gateway_options( $gateway ), (array) ( self::$draft_gateways[ $gateway ] ?? array() ) );

		echo '<h2>' . esc_html( Settings::gateway_label( $gateway ) ) . '</h2><table class="form-table"><tbody>';

		// The box is WordPress's own switch (does checkout offer the method?).
		// When the sidecar's configuration pins its side of the switch, the box
		// stays usable for checkout and only the push to the sidecar is skipped.
		$enabled_key    = Settings::enabled_key( $gateway );
		$enabled_pinned = ! empty( $rs[ $enabled_key ]['pinned'] );
		$pinned_on      = $enabled_pinned && in_array( (string) ( $rs[ $enabled_key ]['value'] ?? '' ), array( 'true', '1', 'yes' ), true );
		self::row(
			__( 'Enabled', 'wcbridge' ),
			sprintf(
				'<label><input type="checkbox" name="wcbridge[gateways][%1$s][enabled]" value="yes" %2$s /> %3$s</label>',
				esc_attr( $gateway ),
				checked( 'yes', $opt['enabled'] ?? 'no', false ),
				esc_html__( 'Offer this payment method at checkout', 'wcbridge' )
			),
			$enabled_pinned
				? ( $pinned_on
					? __( 'The sidecar\'s configuration turns this gateway on; this box only decides whether checkout offers it.', 'wcbridge' )
					: __( 'The sidecar\'s configuration turns this gateway off: payments with it fail until it is turned on there.', 'wcbridge' ) )
				: ''
		);
		self::row(
			__( 'Title', 'wcbridge' ),
			sprintf( '<input type="text" class="regular-text" name="wcbridge[gateways][%s][title]" value="%s" />', esc_attr( $gateway ), esc_attr( (string) ( $opt['title'] ?? '' ) ) ),
			__( 'Shown to customers at checkout. Kept in WordPress only.', 'wcbridge' )
		);
		self::row(
			__( 'Description', 'wcbridge' ),
			sprintf( '<textarea class="large-text" rows="2" name="wcbridge[gateways][%s][description]">%s</textarea>', esc_attr( $gateway ), esc_textarea( (string) ( $opt['description'] ?? '' ) ) ),
			''
		);
		foreach ( Settings::sidecar_fields() as $key => $field ) {
			if ( $gateway === $field['group'] ) {
				self::row( $field['label'], self::field_html( $key, $field, $rs, $local ), self::help( $key, $field, $rs ) );
			}
		}

		$callback = is_array( $status ) ? (string) ( $status['callback_url'] ?? '' ) : '';
		if ( '' !== $callback ) {
			self::row(
				__( 'Callback URL', 'wcbridge' ),
				sprintf(
					'<code class="wcbridge-callback-url">%1$s</code> <button type="button" class="button button-small wcbridge-copy" data-copy="%2$s">%3$s</button>',
					esc_html( $callback ),
					esc_attr( $callback ),
					esc_html__( 'Copy', 'wcbridge' )
				),
				/* translators: %s: gateway name */
				sprintf( __( 'Paste this into the %s dashboard.', 'wcbridge' ), Settings::gateway_label( $gateway ) )
			);
		} elseif ( is_array( $status ) && ! empty( $status ) ) {
			// The sidecar answered but has no callback endpoint for this gateway yet.
			self::row( __( 'Callback URL', 'wcbridge' ), esc_html__( 'Shown once this gateway is enabled and its credentials are saved.', 'wcbridge' ), '' );
		} else {
			self::row( __( 'Callback URL', 'wcbridge' ), esc_html__( 'Shown once the sidecar can be reached.', 'wcbridge' ), '' );
		}
		echo '</tbody></table>';
	}

	/**
	 * Gateway_options are the payment method's WooCommerce settings, with its defaults.
	 *
	 * @param string $gateway Gateway name.
	 * @return array
	 */
	private static function gateway_options( string $gateway ): array {
		$opt = get_option( 'woocommerce_wcbridge_' . $gateway . '_settings', array() );
		$opt = is_array( $opt ) ? $opt : array();
		$map = array(
			'streampay'   => Gateway_StreamPay::class,
			'cryptocloud' => Gateway_CryptoCloud::class,
			'bitstream'   => Gateway_Bitstream::class,
		);
		if ( isset( $map[ $gateway ] ) && class_exists( $map[ $gateway ] ) ) {
			$instance = new $map[ $gateway ]();
			foreach ( array( 'enabled', 'title', 'description' ) as $key ) {
				if ( ! isset( $opt[ $key ] ) ) {
					$opt[ $key ] = (string) $instance->get_option( $key );
				}
			}
		}
		return $opt;
	}

	/**
	 * Field_html builds one input for a sidecar setting.
	 *
	 * @param string $key   Dotted key.
	 * @param array  $field Definition.
	 * @param array  $rs    Remote settings.
	 * @param array  $local Local non-secret values.
	 */
	public static function field_html( string $key, array $field, array $rs, array $local ): string {
		$remote = isset( $rs[ $key ] ) && is_array( $rs[ $key ] ) ? $rs[ $key ] : array();
		$pinned = ! empty( $remote['pinned'] );
		$name   = 'wcbridge[sidecar][' . $key . ']';
		$lock   = $pinned ? ' disabled="disabled" readonly="readonly"' : '';

		if ( 'secret' === $field['type'] ) {
			$set = array_key_exists( 'set', $remote ) ? (bool) $remote['set'] : null;
			return sprintf(
				'<input type="password" class="regular-text" name="%s" value="" autocomplete="new-password"%s /> %s',
				esc_attr( $name ),
				$lock,
				self::set_badge( $set )
			);
		}

		$value = array_key_exists( 'value', $remote ) ? $remote['value'] : ( $local[ $key ] ?? '' );
		if ( is_array( $value ) ) {
			$pairs = array();
			foreach ( $value as $k => $v ) {
				$pairs[] = $k . '=' . ( is_scalar( $v ) ? (string) $v : '' );
			}
			$value = implode( ',', $pairs );
		}
		if ( is_bool( $value ) ) {
			$value = $value ? 'true' : 'false';
		}
		$value = (string) $value;

		switch ( $field['type'] ) {
			case 'bool':
				return sprintf(
					'<input type="checkbox" name="%s" value="yes" %s%s />',
					esc_attr( $name ),
					checked( in_array( $value, array( 'true', '1', 'yes' ), true ), true, false ),
					$lock
				);
			case 'select':
				$html = sprintf( '<select name="%s"%s>', esc_attr( $name ), $lock );
				foreach ( $field['options'] as $option => $label ) {
					$html .= sprintf( '<option value="%s" %s>%s</option>', esc_attr( $option ), selected( $value, $option, false ), esc_html( $label ) );
				}
				return $html . '</select>';
			case 'number':
				return sprintf(
					'<input type="number" step="%s" min="%s" max="%s" class="small-text" name="%s" value="%s"%s />',
					esc_attr( (string) ( $field['step'] ?? 'any' ) ),
					esc_attr( (string) ( $field['min'] ?? '0' ) ),
					esc_attr( (string) ( $field['max'] ?? '' ) ),
					esc_attr( $name ),
					esc_attr( $value ),
					$lock
				);
			default:
				return sprintf( '<input type="text" class="regular-text" name="%s" value="%s"%s />', esc_attr( $name ), esc_attr( $value ), $lock );
		}
	}

	/**
	 * Help is the description under a field, with the pinned remark.
	 *
	 * @param string $key   Dotted key.
	 * @param array  $field Definition.
	 * @param array  $rs    Remote settings.
	 */
	private static function help( string $key, array $field, array $rs ): string {
		$help = (string) ( $field['help'] ?? '' );
		if ( ! empty( $rs[ $key ]['pinned'] ) ) {
			$help = trim( $help . ' ' . __( 'Set in the sidecar\'s configuration file or environment; change it there.', 'wcbridge' ) );
		}
		return $help;
	}

	/**
	 * Set_badge says whether a secret is stored, without showing it.
	 *
	 * @param bool|null $set Null when unknown.
	 */
	private static function set_badge( ?bool $set ): string {
		if ( null === $set ) {
			return '<span class="wcbridge-secret-state">' . esc_html__( 'unknown', 'wcbridge' ) . '</span>';
		}
		return '<span class="wcbridge-secret-state">' . ( $set ? esc_html__( 'set', 'wcbridge' ) : esc_html__( 'not set', 'wcbridge' ) ) . '</span>';
	}

	/**
	 * Row prints a form-table row. $html must already be escaped.
	 *
	 * @param string $label Label.
	 * @param string $html  Escaped field markup.
	 * @param string $help  Plain-text help.
	 */
	private static function row( string $label, string $html, string $help ): void {
		// phpcs:ignore WordPress.Security.EscapeOutput.OutputNotEscaped -- $html is built from escaped parts.
		echo '<tr><th scope="row">' . esc_html( $label ) . '</th><td>' . $html . ( '' !== $help ? '<p class="description">' . esc_html( $help ) . '</p>' : '' ) . '</td></tr>';
	}

	/**
	 * Save stores the WordPress-side values and pushes the rest to the sidecar.
	 */
	public static function save(): void {
		if ( ! current_user_can( 'manage_woocommerce' ) ) {
			return;
		}
		check_admin_referer( 'woocommerce-settings' );
		// phpcs:ignore WordPress.Security.ValidatedSanitizedInput.InputNotSanitized -- each value is sanitized below.
		$input = isset( $_POST['wcbridge'] ) && is_array( $_POST['wcbridge'] ) ? wp_unslash( $_POST['wcbridge'] ) : array();
		foreach ( self::apply( $input ) as $notice ) {
			if ( 'error' === $notice[0] ) {
				\WC_Admin_Settings::add_error( $notice[1] );
			} else {
				\WC_Admin_Settings::add_message( $notice[1] );
			}
		}
	}

	/**
	 * Apply saves the submitted form, all or nothing: every problem, found in
	 * WordPress or by the sidecar, is reported at once, and then nothing is
	 * saved anywhere. It returns the notices to show.
	 *
	 * @param array $input The unslashed "wcbridge" part of the form.
	 * @return array<int,array{0:string,1:string}>
	 */
	public static function apply( array $input ): array {
		$problems = array();

		// The connection as it will be after this save.
		$url = Settings::sidecar_url();
		if ( ! defined( 'WCBRIDGE_SIDECAR_URL' ) && isset( $input['sidecar_url'] ) ) {
			$typed_url = trim( (string) $input['sidecar_url'] );
			$url       = untrailingslashit( esc_url_raw( $typed_url, array( 'http', 'https' ) ) );
			if ( '' !== $typed_url && ! preg_match( '#^https?://[^/\s]+#i', $url ) ) {
				$problems[] = __( 'Sidecar URL: must be an http:// or https:// address, e.g. http://127.0.0.1:8080.', 'wcbridge' );
			}
		}
		$secret = Settings::shared_secret();
		if ( ! defined( 'WCBRIDGE_SHARED_SECRET' ) && isset( $input['shared_secret'] ) && '' !== trim( (string) $input['shared_secret'] ) ) {
			$typed_secret = trim( (string) $input['shared_secret'] );
			$problem      = Signer::secret_problem( $typed_secret );
			if ( '' !== $problem ) {
				$problems[] = __( 'Shared secret:', 'wcbridge' ) . ' ' . $problem;
			} else {
				$secret = $typed_secret;
			}
		}

		// What WordPress keeps for each payment method.
		$options  = array();
		$switches = array();
		foreach ( Settings::GATEWAYS as $gateway ) {
			$in  = isset( $input['gateways'][ $gateway ] ) && is_array( $input['gateways'][ $gateway ] ) ? $input['gateways'][ $gateway ] : array();
			$opt = self::gateway_options( $gateway );

			$opt['enabled'] = ! empty( $in['enabled'] ) ? 'yes' : 'no';
			if ( isset( $in['title'] ) && '' !== trim( (string) $in['title'] ) ) {
				$opt['title'] = sanitize_text_field( (string) $in['title'] );
			}
			if ( isset( $in['description'] ) ) {
				$opt['description'] = sanitize_textarea_field( (string) $in['description'] );
			}
			$options[ $gateway ]                           = $opt;
			$switches[ Settings::enabled_key( $gateway ) ] = $opt['enabled'];
		}
		$enabling = in_array( 'yes', $switches, true );

		// What the sidecar keeps. Fields shown while the sidecar could not be
		// read hold the last values saved here (or nothing), not the
		// sidecar's: only what was typed over them is sent, never a blank.
		$loaded = ! empty( $input['sidecar_loaded'] );
		$typed  = isset( $input['sidecar'] ) && is_array( $input['sidecar'] ) ? $input['sidecar'] : array();
		if ( ! $loaded ) {
			$typed = self::typed_over( $typed );
		}
		$client = new Client( $url, $secret, 10 );
		$remote = null;
		$values = array();
		if ( ! $client->is_configured() ) {
			if ( $enabling || ! empty( $typed ) ) {
				$problems[] = __( 'Payment methods and their credentials need the sidecar connection: set the sidecar URL and the shared secret first.', 'wcbridge' );
			}
		} else {
			$remote = $client->get_settings();
			if ( is_wp_error( $remote ) && 'unauthorized' === $remote->get_error_code() ) {
				$problems[] = sprintf(
					/* translators: %s: sidecar URL */
					__( 'Shared secret: the sidecar at %s refused it; it must be the sidecar\'s plugin.shared_secret.', 'wcbridge' ),
					$url
				);
			} elseif ( is_wp_error( $remote ) ) {
				if ( $enabling || ! empty( $typed ) ) {
					$problems[] = sprintf(
						/* translators: 1: sidecar URL, 2: error message */
						__( 'The sidecar at %1$s could not be reached, so payment methods and their credentials cannot be saved: %2$s', 'wcbridge' ),
						$url,
						$remote->get_error_message()
					);
				}
			} else {
				$rs     = isset( $remote['settings'] ) && is_array( $remote['settings'] ) ? $remote['settings'] : array();
				$values = Settings::push_values( array_merge( $typed, $switches ), $rs );
				if ( ! $loaded ) {
					// A box missing from such a form was not unticked by anyone.
					$values = array_intersect_key( $values, array_merge( $typed, $switches ) );
				}
				if ( ! empty( $values ) ) {
					// With problems already found, the sidecar only checks (dry run)
					// so that every problem is shown at once; otherwise it saves.
					$result = $client->put_settings( $values, ! empty( $problems ) );
					if ( is_wp_error( $result ) ) {
						$problems = array_merge( $problems, self::sidecar_problems( $result ) );
					}
				}
			}
		}

		if ( ! empty( $problems ) ) {
			self::keep_draft( $input );
			Plugin::log( 'warning', 'settings not saved: ' . implode( ' | ', $problems ) );
			$notices = array( array( 'error', __( 'Nothing was saved. Fix these and save again (secrets you typed were not kept: type them again):', 'wcbridge' ) ) );
			foreach ( $problems as $problem ) {
				$notices[] = array( 'error', $problem );
			}
			return $notices;
		}

		// Everything is valid and the sidecar has what it keeps: save the rest.
		if ( ! defined( 'WCBRIDGE_SIDECAR_URL' ) && isset( $input['sidecar_url'] ) ) {
			Settings::set( array( 'sidecar_url' => $url ) );
		}
		if ( ! defined( 'WCBRIDGE_SHARED_SECRET' ) && $secret !== Settings::shared_secret() ) {
			Settings::set( array( 'shared_secret' => $secret ) );
		}
		Admin_Settings_State::$saving = true;
		try {
			foreach ( $options as $gateway => $opt ) {
				update_option( 'woocommerce_wcbridge_' . $gateway . '_settings', $opt );
			}
		} finally {
			Admin_Settings_State::$saving = false;
		}
		// What the form showed is kept (without secrets) to show while the sidecar is unreachable.
		$shown = Settings::local_values( array_merge( array_filter( array_map( 'strval', array_filter( $typed, 'is_scalar' ) ), 'strlen' ), $values ) );
		Settings::set( array( 'sidecar' => array_merge( (array) Settings::get( 'sidecar', array() ), $shown ) ) );
		delete_transient( Settings::HEALTH );
		delete_transient( self::draft_key() );

		if ( ! $client->is_configured() ) {
			return array( array( 'updated', __( 'Settings saved. Set the sidecar URL and the shared secret to offer crypto payments.', 'wcbridge' ) ) );
		}
		if ( is_wp_error( $remote ) ) {
			return array( array( 'updated', __( 'Settings saved in WordPress; every crypto payment method is off. The sidecar could not be reached:', 'wcbridge' ) . ' ' . $remote->get_error_message() ) );
		}
		if ( empty( $values ) ) {
			return array( array( 'updated', __( 'Settings saved. Nothing to send to the sidecar: its settings are unchanged.', 'wcbridge' ) ) );
		}
		if ( ! $loaded ) {
			return array( array( 'updated', __( 'Settings saved and sent to the sidecar. The fields below now show the sidecar\'s values.', 'wcbridge' ) ) );
		}
		return array( array( 'updated', __( 'Settings saved and sent to the sidecar; they apply from the next payment on.', 'wcbridge' ) ) );
	}

	/**
	 * Typed_over keeps, of sidecar fields shown without the sidecar's values,
	 * only what the shop owner typed: a non-empty text or number that differs
	 * from the value last saved here, and any secret typed. Check boxes and
	 * lists showed no real value, so they are not sent.
	 *
	 * @param array $typed Submitted sidecar fields.
	 * @return array
	 */
	private static function typed_over( array $typed ): array {
		$fields = Settings::sidecar_fields();
		$local  = Settings::get( 'sidecar', array() );
		$local  = is_array( $local ) ? $local : array();
		$out    = array();
		foreach ( $typed as $key => $raw ) {
			if ( ! isset( $fields[ $key ] ) || ! is_scalar( $raw ) ) {
				continue;
			}
			$value = trim( (string) $raw );
			$type  = $fields[ $key ]['type'];
			if ( '' === $value || in_array( $type, array( 'bool', 'select' ), true ) ) {
				continue;
			}
			if ( 'secret' !== $type && isset( $local[ $key ] ) && (string) $local[ $key ] === $value ) {
				continue;
			}
			$out[ $key ] = $value;
		}
		return $out;
	}

	/**
	 * Sidecar_problems turns the sidecar's refusal into one line per field,
	 * named as the page names it.
	 *
	 * @param \WP_Error $error The refusal.
	 * @return string[]
	 */
	private static function sidecar_problems( $error ): array {
		$data   = $error->get_error_data();
		$fields = is_array( $data ) && ! empty( $data['fields'] ) && is_array( $data['fields'] ) ? $data['fields'] : array();
		if ( empty( $fields ) ) {
			return array( __( 'The sidecar refused the settings:', 'wcbridge' ) . ' ' . $error->get_error_message() );
		}
		$out = array();
		foreach ( $fields as $key => $why ) {
			$out[] = self::field_name( (string) $key ) . ': ' . sanitize_text_field( is_scalar( $why ) ? (string) $why : '' );
		}
		sort( $out );
		return $out;
	}

	/**
	 * Field_name is a sidecar key as the page labels it, e.g. "StreamPay — Client ID".
	 *
	 * @param string $key Dotted key.
	 */
	public static function field_name( string $key ): string {
		$fields = Settings::sidecar_fields();
		$label  = isset( $fields[ $key ] ) ? $fields[ $key ]['label'] : '';
		$parts  = explode( '.', $key );
		if ( 'gateways' === ( $parts[0] ?? '' ) && isset( $parts[1] ) && in_array( $parts[1], Settings::GATEWAYS, true ) ) {
			if ( '' === $label && 'enabled' === ( $parts[2] ?? '' ) ) {
				$label = __( 'Enabled', 'wcbridge' );
			}
			return Settings::gateway_label( $parts[1] ) . ' — ' . ( '' !== $label ? $label : sanitize_text_field( $key ) );
		}
		return '' !== $label ? $label : sanitize_text_field( $key );
	}

	/**
	 * Draft_key names the transient that keeps a refused form for the user.
	 */
	private static function draft_key(): string {
		return 'wcbridge_settings_draft_' . ( function_exists( 'get_current_user_id' ) ? (int) get_current_user_id() : 0 );
	}

	/**
	 * Keep_draft keeps what a refused form held, without secrets, so the page
	 * shows it again instead of the saved values.
	 *
	 * @param array $input The submitted form.
	 */
	private static function keep_draft( array $input ): void {
		$fields = Settings::sidecar_fields();
		$draft  = array(
			'sidecar_url' => isset( $input['sidecar_url'] ) && is_scalar( $input['sidecar_url'] ) ? sanitize_text_field( (string) $input['sidecar_url'] ) : null,
			'sidecar'     => array(),
			'gateways'    => array(),
		);
		foreach ( (array) ( $input['sidecar'] ?? array() ) as $key => $value ) {
			if ( isset( $fields[ $key ] ) && 'secret' !== $fields[ $key ]['type'] && is_scalar( $value ) ) {
				$draft['sidecar'][ $key ] = sanitize_text_field( (string) $value );
			}
		}
		foreach ( Settings::GATEWAYS as $gateway ) {
			$in                             = isset( $input['gateways'][ $gateway ] ) && is_array( $input['gateways'][ $gateway ] ) ? $input['gateways'][ $gateway ] : array();
			$draft['gateways'][ $gateway ] = array(
				'enabled'     => ! empty( $in['enabled'] ) ? 'yes' : 'no',
				'title'       => isset( $in['title'] ) ? sanitize_text_field( (string) $in['title'] ) : '',
				'description' => isset( $in['description'] ) ? sanitize_textarea_field( (string) $in['description'] ) : '',
			);
		}
		set_transient( self::draft_key(), $draft, 10 * MINUTE_IN_SECONDS );
	}

	/**
	 * Draft is the refused form kept for the current user, or null.
	 */
	public static function draft(): ?array {
		$draft = get_transient( self::draft_key() );
		return is_array( $draft ) ? $draft : null;
	}

	/**
	 * Ajax_test_connection answers the "Test connection" button with GET /v1/status.
	 */
	public static function ajax_test_connection(): void {
		check_ajax_referer( self::TEST_ACTION, 'nonce' );
		if ( ! current_user_can( 'manage_woocommerce' ) ) {
			wp_send_json_error( array( 'message' => __( 'You are not allowed to do this.', 'wcbridge' ) ), 403 );
			return;
		}
		$status = Client::from_settings( 10 )->status();
		self::remember_health( $status );
		if ( is_wp_error( $status ) ) {
			wp_send_json_error( array( 'message' => $status->get_error_message() ) );
			return;
		}
		wp_send_json_success( self::status_report( $status ) );
	}

	/**
	 * Status_report keeps only the fields the page shows, as plain strings.
	 *
	 * @param array $status GET /v1/status answer.
	 */
	public static function status_report( array $status ): array {
		$out = array(
			'version'        => (string) ( $status['version'] ?? '' ),
			'storage_mode'   => (string) ( $status['storage_mode'] ?? '' ),
			'database'       => (string) ( $status['database'] ?? '' ),
			'outbox_backlog' => (string) ( $status['outbox_backlog'] ?? '' ),
			'gateways'       => array(),
		);
		$gateways = isset( $status['gateways'] ) && is_array( $status['gateways'] ) ? $status['gateways'] : array();
		foreach ( $gateways as $name => $g ) {
			if ( ! is_array( $g ) ) {
				continue;
			}
			$out['gateways'][] = array(
				'name'                   => Settings::gateway_label( (string) $name ),
				'enabled'                => ! empty( $g['enabled'] ),
				'configured'             => ! empty( $g['configured'] ),
				'reachable'              => ! empty( $g['reachable'] ),
				'callback_url'           => (string) ( $g['callback_url'] ?? '' ),
				'last_callback_accepted' => (string) ( $g['last_callback_accepted'] ?? '' ),
				'last_callback_rejected' => (string) ( $g['last_callback_rejected'] ?? '' ),
				'last_rejected_reason'   => (string) ( $g['last_rejected_reason'] ?? '' ),
				'problem'                => (string) ( $g['problem'] ?? '' ),
				'problem_payments'       => (int) ( $g['problem_payments'] ?? 0 ),
				'last_payment_problem'   => (string) ( $g['last_payment_problem'] ?? '' ),
			);
		}
		return $out;
	}

	/**
	 * Remember_health caches the outcome of a status call for the admin notice.
	 *
	 * @param array|\WP_Error $status GET /v1/status answer.
	 */
	public static function remember_health( $status ): void {
		Settings::remember_health( $status );
	}

	/**
	 * Health_notice warns shop managers when the sidecar is not configured or
	 * unreachable. The check is cached; at most one status call per few minutes.
	 */
	public static function health_notice(): void {
		if ( ! current_user_can( 'manage_woocommerce' ) ) {
			return;
		}
		$client = Client::from_settings( 3 );
		if ( ! $client->is_configured() ) {
			echo '<div class="notice notice-warning"><p>' . esc_html__( 'wcbridge crypto payments: set the sidecar URL and shared secret to start accepting crypto payments.', 'wcbridge' ) . ' <a href="' . esc_url( self::url() ) . '">' . esc_html__( 'Settings', 'wcbridge' ) . '</a></p></div>';
			return;
		}
		$health = Settings::health();
		if ( empty( $health['ok'] ) ) {
			echo '<div class="notice notice-error"><p>' . esc_html__( 'wcbridge crypto payments: the sidecar cannot be reached, so customers cannot pay with crypto right now.', 'wcbridge' ) . ' ' . esc_html( (string) $health['message'] ) . ' <a href="' . esc_url( self::url() ) . '">' . esc_html__( 'Settings', 'wcbridge' ) . '</a></p></div>';
		}
	}
}
