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
				esc_attr( Settings::sidecar_url() ),
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
		$opt = self::gateway_options( $gateway );

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
				return sprintf( '<input type="number" step="0.01" min="0" max="10" class="small-text" name="%s" value="%s"%s />', esc_attr( $name ), esc_attr( $value ), $lock );
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
	 * Apply saves the submitted form and pushes it; it returns the notices to show.
	 *
	 * @param array $input The unslashed "wcbridge" part of the form.
	 * @return array<int,array{0:string,1:string}>
	 */
	public static function apply( array $input ): array {
		$notices = array();

		if ( ! defined( 'WCBRIDGE_SIDECAR_URL' ) && isset( $input['sidecar_url'] ) ) {
			$url = esc_url_raw( trim( (string) $input['sidecar_url'] ), array( 'http', 'https' ) );
			Settings::set( array( 'sidecar_url' => untrailingslashit( $url ) ) );
		}
		if ( ! defined( 'WCBRIDGE_SHARED_SECRET' ) && isset( $input['shared_secret'] ) && '' !== trim( (string) $input['shared_secret'] ) ) {
			$secret = trim( (string) $input['shared_secret'] );
			$problem = Signer::secret_problem( $secret );
			if ( '' !== $problem ) {
				/* translators: %s: what is wrong with the secret */
				$notices[] = array( 'error', sprintf( __( '%s The previous one was kept.', 'wcbridge' ), $problem ) );
			} else {
				Settings::set( array( 'shared_secret' => $secret ) );
			}
		}

		// Sidecar fields shown while the sidecar could not be read (first setup,
		// sidecar down) hold placeholders, not the sidecar's values: pushing them
		// would overwrite its settings with blanks. Only the switches are sent.
		$loaded    = ! empty( $input['sidecar_loaded'] );
		$typed     = isset( $input['sidecar'] ) && is_array( $input['sidecar'] ) ? $input['sidecar'] : array();
		$submitted = $loaded ? $typed : array();
		$switches  = array();
		Admin_Settings_State::$saving = true;
		try {
			foreach ( Settings::GATEWAYS as $gateway ) {
				$in     = isset( $input['gateways'][ $gateway ] ) && is_array( $input['gateways'][ $gateway ] ) ? $input['gateways'][ $gateway ] : array();
				$option = 'woocommerce_wcbridge_' . $gateway . '_settings';
				$opt    = self::gateway_options( $gateway );

				$opt['enabled'] = ! empty( $in['enabled'] ) ? 'yes' : 'no';
				if ( isset( $in['title'] ) && '' !== trim( (string) $in['title'] ) ) {
					$opt['title'] = sanitize_text_field( (string) $in['title'] );
				}
				if ( isset( $in['description'] ) ) {
					$opt['description'] = sanitize_textarea_field( (string) $in['description'] );
				}
				update_option( $option, $opt );
				$submitted[ Settings::enabled_key( $gateway ) ] = $opt['enabled'];
				$switches[ Settings::enabled_key( $gateway ) ]  = $opt['enabled'];
			}
		} finally {
			Admin_Settings_State::$saving = false;
		}

		$client = Client::from_settings( 10 );
		$remote = $client->get_settings();
		$rs     = is_array( $remote ) && isset( $remote['settings'] ) && is_array( $remote['settings'] ) ? $remote['settings'] : array();
		$values = Settings::push_values( $submitted, $rs );
		if ( ! $loaded ) {
			$values = array_intersect_key( $values, $switches );
		}
		// What the form showed is kept (without secrets) to show while the sidecar is unreachable.
		$shown = Settings::local_values( Settings::push_values( array_merge( $typed, $switches ), $rs ) );
		Settings::set( array( 'sidecar' => array_merge( (array) Settings::get( 'sidecar', array() ), $shown ) ) );
		delete_transient( Settings::HEALTH );

		if ( is_wp_error( $remote ) ) {
			$notices[] = array(
				'error',
				__( 'Saved in WordPress, but the sidecar could not be reached, so gateway credentials and order rules were not sent. Secrets typed now were not kept: enter them again once the sidecar is reachable.', 'wcbridge' ) . ' ' . $remote->get_error_message(),
			);
			return $notices;
		}

		if ( empty( $values ) ) {
			// Nothing the sidecar holds was changed: no request.
			$notices[] = array( 'updated', __( 'Settings saved. Nothing to send to the sidecar: its settings are unchanged.', 'wcbridge' ) );
			return $notices;
		}
		$result = $client->put_settings( $values );
		if ( is_wp_error( $result ) ) {
			$data   = $result->get_error_data();
			$fields = is_array( $data ) && ! empty( $data['fields'] ) ? $data['fields'] : array();
			$detail = array();
			foreach ( $fields as $key => $why ) {
				$detail[] = sanitize_text_field( (string) $key ) . ': ' . sanitize_text_field( is_scalar( $why ) ? (string) $why : '' );
			}
			Plugin::log( 'warning', 'settings push refused: ' . $result->get_error_code() . ' ' . $result->get_error_message() . ( $detail ? ' (' . implode( '; ', $detail ) . ')' : '' ) );
			$notices[] = array(
				'error',
				__( 'The sidecar refused the settings:', 'wcbridge' ) . ' ' . $result->get_error_message() . ( $detail ? ' — ' . implode( '; ', $detail ) : '' ),
			);
			return $notices;
		}
		if ( ! $loaded ) {
			$notices[] = array( 'updated', __( 'Connection saved. The gateway credentials and order rules below now show the sidecar\'s values: review them and save again to change them.', 'wcbridge' ) );
			return $notices;
		}
		$notices[] = array( 'updated', __( 'Settings saved and sent to the sidecar; they apply from the next payment on.', 'wcbridge' ) );
		return $notices;
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
		$ok = ! is_wp_error( $status );
		set_transient(
			Settings::HEALTH,
			array(
				'ok'      => $ok,
				'message' => $ok ? '' : $status->get_error_message(),
			),
			$ok ? 10 * MINUTE_IN_SECONDS : 5 * MINUTE_IN_SECONDS
		);
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
		$health = get_transient( Settings::HEALTH );
		if ( ! is_array( $health ) ) {
			$status = $client->status();
			self::remember_health( $status );
			$health = array(
				'ok'      => ! is_wp_error( $status ),
				'message' => is_wp_error( $status ) ? $status->get_error_message() : '',
			);
		}
		if ( empty( $health['ok'] ) ) {
			echo '<div class="notice notice-error"><p>' . esc_html__( 'wcbridge crypto payments: the sidecar cannot be reached, so customers cannot pay with crypto right now.', 'wcbridge' ) . ' ' . esc_html( (string) $health['message'] ) . ' <a href="' . esc_url( self::url() ) . '">' . esc_html__( 'Settings', 'wcbridge' ) . '</a></p></div>';
		}
	}
}
