<?php
declare(strict_types=1);

use PHPUnit\Framework\TestCase;
use WCBridge\Admin_Settings;
use WCBridge\Settings;

final class SettingsTest extends TestCase {
	/** @var FakeSidecar */
	private static $sidecar;

	public static function setUpBeforeClass(): void {
		self::$sidecar = new FakeSidecar();
	}

	public static function tearDownAfterClass(): void {
		self::$sidecar->stop();
	}

	protected function setUp(): void {
		wcb_reset();
		self::$sidecar->reset();
		self::$sidecar->configure_plugin();
		WC_Admin_Settings::$errors   = array();
		WC_Admin_Settings::$messages = array();
	}

	private function remote(): array {
		return array(
			'gateways.streampay.client_id'         => array( 'value' => 'abc', 'pinned' => false, 'secret' => false ),
			'gateways.streampay.secret_key'        => array( 'set' => true, 'pinned' => false, 'secret' => true ),
			'gateways.cryptocloud.api_key'         => array( 'set' => true, 'pinned' => true, 'secret' => true ),
			'gateways.cryptocloud.shop_id'         => array( 'value' => 'SHOP-PINNED', 'pinned' => true, 'secret' => false ),
			'gateways.bitstream.api_key'           => array( 'set' => false, 'pinned' => false, 'secret' => true ),
			'gateways.bitstream.test_mode'         => array( 'value' => 'true', 'pinned' => false, 'secret' => false ),
			'orders.on_expired'                    => array( 'value' => 'cancel', 'pinned' => false, 'secret' => false ),
			'payments.underpaid_tolerance_percent' => array( 'value' => '0.5', 'pinned' => false, 'secret' => false ),
		);
	}

	public function test_push_values_skips_pinned_and_empty_secrets(): void {
		$got = Settings::push_values(
			array(
				'gateways.streampay.client_id'         => ' client-1 ',
				'gateways.streampay.secret_key'        => '',
				'gateways.cryptocloud.api_key'         => 'typed-over-a-pinned-one',
				'gateways.cryptocloud.shop_id'         => 'OTHER',
				'gateways.cryptocloud.secret_key'      => 'cc-secret',
				'gateways.cryptocloud.allow_test_mode' => 'yes',
				'gateways.bitstream.unit_decimals'     => '8',
				'orders.on_expired'                    => 'leave_pending',
				'orders.on_late_payment'               => 'shipped', // Not an option: not sent.
				'payments.underpaid_tolerance_percent' => '1.5',
				'gateways.streampay.enabled'           => 'yes',
			),
			$this->remote()
		);
		$this->assertSame( 'client-1', $got['gateways.streampay.client_id'] );
		$this->assertArrayNotHasKey( 'gateways.streampay.secret_key', $got, 'empty secret keeps the stored one' );
		$this->assertArrayNotHasKey( 'gateways.cryptocloud.api_key', $got, 'pinned' );
		$this->assertArrayNotHasKey( 'gateways.cryptocloud.shop_id', $got, 'pinned' );
		$this->assertSame( 'cc-secret', $got['gateways.cryptocloud.secret_key'] );
		$this->assertSame( 'true', $got['gateways.cryptocloud.allow_test_mode'] );
		$this->assertSame( 'false', $got['gateways.bitstream.test_mode'], 'unchecked box' );
		$this->assertSame( '8', $got['gateways.bitstream.unit_decimals'] );
		$this->assertSame( 'leave_pending', $got['orders.on_expired'] );
		$this->assertArrayNotHasKey( 'orders.on_late_payment', $got );
		$this->assertSame( '1.5', $got['payments.underpaid_tolerance_percent'] );
		$this->assertSame( 'true', $got['gateways.streampay.enabled'] );
		$this->assertArrayNotHasKey( 'gateways.bitstream.enabled', $got, 'not on the form, unknown to the sidecar' );

		$local = Settings::local_values( $got );
		$this->assertArrayNotHasKey( 'gateways.cryptocloud.secret_key', $local, 'secrets are not kept in WordPress' );
		$this->assertSame( 'client-1', $local['gateways.streampay.client_id'] );
	}

	public function test_untouched_text_is_not_pushed(): void {
		$remote = array(
			'gateways.bitstream.currency' => array( 'value' => '', 'pinned' => false, 'secret' => false ),
			'gateways.bitstream.unit_decimals' => array( 'value' => '8', 'pinned' => false, 'secret' => false ),
			'orders.on_expired'           => array( 'value' => 'cancel', 'pinned' => false, 'secret' => false ),
		);
		$got = Settings::push_values(
			array(
				'gateways.bitstream.currency' => '',
				'gateways.bitstream.unit_decimals' => '8',
				'orders.on_expired'           => 'cancel',
			),
			$remote
		);
		$this->assertArrayNotHasKey( 'gateways.bitstream.currency', $got );
		$this->assertArrayNotHasKey( 'gateways.bitstream.unit_decimals', $got );
		$this->assertArrayNotHasKey( 'orders.on_expired', $got );
		$got = Settings::push_values( array( 'gateways.bitstream.unit_decimals' => '6' ), $remote );
		$this->assertSame( '6', $got['gateways.bitstream.unit_decimals'] );
	}

	public function test_fields_never_echo_secrets_and_pinned_are_read_only(): void {
		$fields = Settings::sidecar_fields();
		$remote = $this->remote();
		// Even if a sidecar wrongly returned a secret's value, the page does not print it.
		$remote['gateways.streampay.secret_key']['value'] = 'LEAKED-SECRET';

		$html = Admin_Settings::field_html( 'gateways.streampay.secret_key', $fields['gateways.streampay.secret_key'], $remote, array() );
		$this->assertStringNotContainsString( 'LEAKED-SECRET', $html );
		$this->assertStringContainsString( 'type="password"', $html );
		$this->assertStringContainsString( 'value=""', $html );
		$this->assertStringContainsString( '>set<', $html );

		$html = Admin_Settings::field_html( 'gateways.bitstream.api_key', $fields['gateways.bitstream.api_key'], $remote, array() );
		$this->assertStringContainsString( '>not set<', $html );

		$html = Admin_Settings::field_html( 'gateways.bitstream.api_key', $fields['gateways.bitstream.api_key'], array(), array() );
		$this->assertStringContainsString( '>unknown<', $html, 'sidecar unreachable' );

		$html = Admin_Settings::field_html( 'gateways.cryptocloud.shop_id', $fields['gateways.cryptocloud.shop_id'], $remote, array() );
		$this->assertStringContainsString( 'SHOP-PINNED', $html );
		$this->assertStringContainsString( 'readonly', $html );
		$this->assertStringContainsString( 'disabled', $html );

		$html = Admin_Settings::field_html( 'gateways.streampay.client_id', $fields['gateways.streampay.client_id'], $remote, array() );
		$this->assertStringNotContainsString( 'readonly', $html );
		$this->assertStringContainsString( 'value="abc"', $html );

		$html = Admin_Settings::field_html( 'gateways.streampay.client_id', $fields['gateways.streampay.client_id'], array(), array( 'gateways.streampay.client_id' => '<b>x</b>' ) );
		$this->assertStringContainsString( '&lt;b&gt;x&lt;/b&gt;', $html, 'local fallback, escaped' );
	}

	public function test_render_does_not_print_the_shared_secret(): void {
		self::$sidecar->answer( 'GET /v1/settings', 200, array( 'settings' => $this->remote() ) );
		self::$sidecar->answer( 'GET /v1/status', 200, array( 'version' => '0.1.0', 'gateways' => array( 'streampay' => array( 'callback_url' => 'https://bridge.example/v1/callbacks/streampay' ) ) ) );
		ob_start();
		Admin_Settings::render();
		$html = ob_get_clean();
		$this->assertStringNotContainsString( FakeSidecar::SECRET, $html );
		$this->assertStringContainsString( 'https://bridge.example/v1/callbacks/streampay', $html );
		$this->assertStringContainsString( 'SHOP-PINNED', $html );
		$this->assertSame( 2, count( array_filter( self::$sidecar->requests(), static fn( $r ) => $r['valid'] ) ) );
	}

	public function test_bitstream_shows_its_callback_url_and_webhook_secret_field(): void {
		$remote = $this->remote();
		$remote['gateways.bitstream.webhook_secret'] = array( 'set' => true, 'pinned' => false, 'secret' => true );
		self::$sidecar->answer( 'GET /v1/settings', 200, array( 'settings' => $remote ) );
		self::$sidecar->answer( 'GET /v1/status', 200, array( 'version' => '0.1.0', 'gateways' => array( 'bitstream' => array( 'callback_url' => 'https://bridge.example/v1/callbacks/bitstream' ) ) ) );
		ob_start();
		Admin_Settings::render();
		$html = ob_get_clean();
		$this->assertStringContainsString( '<code class="wcbridge-callback-url">https://bridge.example/v1/callbacks/bitstream</code>', $html );
		$this->assertStringContainsString( 'Paste this into the Bitstream dashboard.', $html );
		$this->assertStringContainsString( 'name="wcbridge[sidecar][gateways.bitstream.webhook_secret]"', $html );
		$this->assertStringNotContainsString( 'Bitstream sends no callbacks', $html );

		$got = Settings::push_values( array( 'gateways.bitstream.webhook_secret' => ' whsec_new ' ), $remote );
		$this->assertSame( 'whsec_new', $got['gateways.bitstream.webhook_secret'] );
		$this->assertArrayNotHasKey( 'gateways.bitstream.webhook_secret', Settings::local_values( $got ), 'secrets are not kept in WordPress' );
		$got = Settings::push_values( array( 'gateways.bitstream.webhook_secret' => '' ), $remote );
		$this->assertArrayNotHasKey( 'gateways.bitstream.webhook_secret', $got, 'an empty secret keeps the stored one' );
	}

	public function test_save_pushes_to_the_sidecar(): void {
		self::$sidecar->answer( 'GET /v1/settings', 200, array( 'settings' => $this->remote() ) );
		self::$sidecar->answer( 'PUT /v1/settings', 200, array( 'settings' => array() ) );

		$notices = Admin_Settings::apply(
			array(
				'sidecar_url'    => self::$sidecar->url . '/',
				'shared_secret'  => '',
				'sidecar_loaded' => '1',
				'gateways'       => array(
					'streampay' => array( 'enabled' => 'yes', 'title' => 'Pay with <b>crypto</b>', 'description' => 'Fast' ),
				),
				'sidecar'        => array(
					'gateways.streampay.client_id'  => 'client-2',
					'gateways.streampay.secret_key' => 'sp-secret-new',
					'gateways.cryptocloud.shop_id'  => 'NOPE',
					'orders.on_expired'             => 'cancel',
				),
			)
		);

		$this->assertSame( 'updated', $notices[0][0], print_r( $notices, true ) );
		$this->assertSame( FakeSidecar::SECRET, Settings::shared_secret(), 'empty submit keeps the secret' );
		$this->assertSame( self::$sidecar->url, Settings::sidecar_url() );
		$gw = get_option( 'woocommerce_wcbridge_streampay_settings' );
		$this->assertSame( array( 'enabled' => 'yes', 'title' => 'Pay with crypto', 'description' => 'Fast' ), $gw );
		$this->assertSame( 'no', get_option( 'woocommerce_wcbridge_bitstream_settings' )['enabled'] );

		$puts = array_values( array_filter( self::$sidecar->requests(), static fn( $r ) => 'PUT' === $r['method'] ) );
		$this->assertCount( 1, $puts, 'one PUT for the whole form (the enabled switches are not pushed separately)' );
		$this->assertTrue( $puts[0]['valid'] );
		$sent = json_decode( $puts[0]['body'], true )['settings'];
		$this->assertSame( 'client-2', $sent['gateways.streampay.client_id'] );
		$this->assertSame( 'sp-secret-new', $sent['gateways.streampay.secret_key'] );
		$this->assertSame( 'true', $sent['gateways.streampay.enabled'] );
		$this->assertArrayNotHasKey( 'gateways.cryptocloud.shop_id', $sent );
		$this->assertArrayNotHasKey( 'gateways.cryptocloud.secret_key', $sent );
		$this->assertArrayNotHasKey( 'title', $sent, 'titles stay in WordPress' );

		$stored = json_encode( $GLOBALS['wcb']['options'] );
		$this->assertStringNotContainsString( 'sp-secret-new', $stored, 'gateway secrets are not stored in WordPress' );
	}

	public function test_save_is_all_or_nothing_with_every_problem_shown(): void {
		// A short secret (WordPress's own check) and a tolerance the sidecar
		// refuses: both reported at once, and nothing saved anywhere. The
		// sidecar only checked (dry run): it was never going to be saved.
		self::$sidecar->answer( 'GET /v1/settings', 200, array( 'settings' => $this->remote() ) );
		self::$sidecar->answer( 'PUT /v1/settings', 400, array( 'error' => array( 'code' => 'invalid', 'message' => 'some settings are invalid', 'fields' => array( 'payments.underpaid_tolerance_percent' => 'must be between 0 and 10', 'gateways.streampay.client_id' => 'required when enabled' ) ) ) );
		$before  = $GLOBALS['wcb']['options'];
		$notices = Admin_Settings::apply(
			array(
				'shared_secret'  => 'short',
				'sidecar_loaded' => '1',
				'gateways'       => array( 'streampay' => array( 'enabled' => 'yes', 'title' => 'New title' ) ),
				'sidecar'        => array( 'payments.underpaid_tolerance_percent' => '50', 'gateways.streampay.client_id' => '' ),
			)
		);
		$this->assertSame( array( 'error', 'error', 'error', 'error' ), array_column( $notices, 0 ), print_r( $notices, true ) );
		$this->assertStringContainsString( 'Nothing was saved', $notices[0][1] );
		$text = implode( "\n", array_column( $notices, 1 ) );
		$this->assertStringContainsString( 'Shared secret: The shared secret must be at least 32 characters', $text );
		$this->assertStringContainsString( 'openssl rand -hex 32', $text );
		$this->assertStringContainsString( 'Underpayment tolerance (%): must be between 0 and 10', $text );
		$this->assertStringContainsString( 'StreamPay — Client ID: required when enabled', $text );

		$puts = array_values( array_filter( self::$sidecar->requests(), static fn( $r ) => 'PUT' === $r['method'] ) );
		$this->assertCount( 1, $puts );
		$this->assertTrue( json_decode( $puts[0]['body'], true )['dry_run'], 'with a problem already found the sidecar only checks' );
		$this->assertSame( $before, $GLOBALS['wcb']['options'], 'nothing saved in WordPress' );
		$this->assertSame( FakeSidecar::SECRET, Settings::shared_secret() );

		// The refused form is shown again as typed (secrets aside).
		$draft = Admin_Settings::draft();
		$this->assertSame( '50', $draft['sidecar']['payments.underpaid_tolerance_percent'] );
		$this->assertSame( 'New title', $draft['gateways']['streampay']['title'] );
	}

	public function test_sidecar_refusal_saves_nothing_in_wordpress_either(): void {
		self::$sidecar->answer( 'GET /v1/settings', 200, array( 'settings' => $this->remote() ) );
		self::$sidecar->answer( 'PUT /v1/settings', 400, array( 'error' => array( 'code' => 'invalid', 'message' => 'some settings are invalid', 'fields' => array( 'gateways.streampay.client_id' => 'required when enabled' ) ) ) );
		$notices = Admin_Settings::apply( array( 'sidecar_loaded' => '1', 'gateways' => array( 'streampay' => array( 'enabled' => 'yes' ) ) ) );
		$this->assertSame( 'error', $notices[0][0] );
		$this->assertFalse( get_option( 'woocommerce_wcbridge_streampay_settings' ), 'the method is not enabled in WordPress' );
		$puts = array_values( array_filter( self::$sidecar->requests(), static fn( $r ) => 'PUT' === $r['method'] ) );
		$this->assertArrayNotHasKey( 'dry_run', json_decode( $puts[0]['body'], true ), 'no problem of its own: the sidecar was asked to save' );
	}

	public function test_first_save_sends_what_was_typed(): void {
		// The form was shown before the sidecar could be read (first setup):
		// what was typed is sent with the new connection; blanks and boxes,
		// which showed no real value, are not.
		update_option( 'wcbridge_settings', array() );
		self::$sidecar->answer( 'GET /v1/settings', 200, array( 'settings' => $this->remote() ) );
		self::$sidecar->answer( 'PUT /v1/settings', 200, array( 'settings' => array() ) );
		$notices = Admin_Settings::apply(
			array(
				'sidecar_url'   => self::$sidecar->url,
				'shared_secret' => FakeSidecar::SECRET,
				'gateways'      => array( 'streampay' => array( 'enabled' => 'yes' ) ),
				'sidecar'       => array(
					'gateways.streampay.client_id'         => 'client-typed',
					'gateways.streampay.secret_key'        => 'sp-secret-typed',
					'payments.underpaid_tolerance_percent' => '',
					'gateways.bitstream.currency'          => '',
					'gateways.bitstream.test_mode'         => '',
				),
			)
		);
		$this->assertSame( 'updated', $notices[0][0], print_r( $notices, true ) );
		$puts = array_values( array_filter( self::$sidecar->requests(), static fn( $r ) => 'PUT' === $r['method'] ) );
		$this->assertCount( 1, $puts );
		$this->assertTrue( $puts[0]['valid'], 'signed with the secret typed in the same form' );
		$this->assertSame(
			array(
				'gateways.streampay.client_id'  => 'client-typed',
				'gateways.streampay.secret_key' => 'sp-secret-typed',
				'gateways.streampay.enabled'    => 'true',
				'gateways.cryptocloud.enabled'  => 'false',
				'gateways.bitstream.enabled'    => 'false',
			),
			json_decode( $puts[0]['body'], true )['settings']
		);
		$this->assertSame( self::$sidecar->url, Settings::sidecar_url() );
		$this->assertSame( 'yes', get_option( 'woocommerce_wcbridge_streampay_settings' )['enabled'] );
	}

	public function test_unchanged_boxes_are_not_pushed(): void {
		$remote = array(
			'gateways.bitstream.test_mode'         => array( 'value' => '', 'set' => false, 'pinned' => false, 'secret' => false ),
			'gateways.cryptocloud.allow_test_mode' => array( 'value' => 'false', 'set' => true, 'pinned' => false, 'secret' => false ),
			'gateways.cryptocloud.enabled'         => array( 'value' => 'true', 'set' => true, 'pinned' => false, 'secret' => false ),
			'gateways.streampay.enabled'           => array( 'value' => 'false', 'set' => true, 'pinned' => false, 'secret' => false ),
		);
		$got = Settings::push_values(
			array(
				'gateways.cryptocloud.enabled' => 'yes',
				'gateways.streampay.enabled'   => 'yes',
			),
			$remote
		);
		$this->assertArrayNotHasKey( 'gateways.bitstream.test_mode', $got, 'unticked over "no value": the sidecar default stays' );
		$this->assertArrayNotHasKey( 'gateways.cryptocloud.allow_test_mode', $got );
		$this->assertArrayNotHasKey( 'gateways.cryptocloud.enabled', $got );
		$this->assertSame( 'true', $got['gateways.streampay.enabled'] );
		$got = Settings::push_values( array( 'gateways.bitstream.test_mode' => 'yes' ), $remote );
		$this->assertSame( 'true', $got['gateways.bitstream.test_mode'] );
	}

	public function test_nothing_changed_sends_no_put(): void {
		$remote = array();
		foreach ( array( 'streampay', 'cryptocloud', 'bitstream' ) as $g ) {
			$remote[ 'gateways.' . $g . '.enabled' ] = array( 'value' => 'false', 'set' => true, 'pinned' => false, 'secret' => false );
		}
		$remote['gateways.cryptocloud.allow_test_mode'] = array( 'value' => 'false', 'set' => true, 'pinned' => false, 'secret' => false );
		$remote['gateways.bitstream.test_mode']         = array( 'value' => '', 'set' => false, 'pinned' => false, 'secret' => false );
		self::$sidecar->answer( 'GET /v1/settings', 200, array( 'settings' => $remote ) );
		$notices = Admin_Settings::apply( array( 'sidecar_loaded' => '1', 'gateways' => array( 'streampay' => array( 'description' => 'WordPress only' ) ) ) );
		$this->assertSame( 'updated', $notices[0][0] );
		$puts = array_filter( self::$sidecar->requests(), static fn( $r ) => 'PUT' === $r['method'] );
		$this->assertCount( 0, $puts );
		$this->assertSame( 'WordPress only', get_option( 'woocommerce_wcbridge_streampay_settings' )['description'] );
	}

	public function test_empty_number_is_not_pushed(): void {
		$got = Settings::push_values( array( 'payments.underpaid_tolerance_percent' => ' ' ), array() );
		$this->assertArrayNotHasKey( 'payments.underpaid_tolerance_percent', $got );
	}

	public function test_pinned_switch_still_sets_checkout(): void {
		$remote = $this->remote();
		$remote['gateways.streampay.enabled'] = array( 'value' => 'true', 'pinned' => true, 'secret' => false );
		self::$sidecar->answer( 'GET /v1/settings', 200, array( 'settings' => $remote ) );
		self::$sidecar->answer( 'PUT /v1/settings', 200, array( 'settings' => array() ) );
		Admin_Settings::apply( array( 'sidecar_loaded' => '1', 'gateways' => array( 'streampay' => array( 'enabled' => 'yes' ) ) ) );
		$this->assertSame( 'yes', get_option( 'woocommerce_wcbridge_streampay_settings' )['enabled'], 'checkout offers it' );
		$puts = array_values( array_filter( self::$sidecar->requests(), static fn( $r ) => 'PUT' === $r['method'] ) );
		$this->assertArrayNotHasKey( 'gateways.streampay.enabled', json_decode( $puts[0]['body'], true )['settings'], 'pinned: not pushed' );
	}

	public function test_save_with_sidecar_down(): void {
		update_option( 'wcbridge_settings', array( 'sidecar_url' => 'http://127.0.0.1:9', 'shared_secret' => FakeSidecar::SECRET ) );
		// Credentials or an enabled method need the sidecar: nothing saved.
		$notices = Admin_Settings::apply( array( 'gateways' => array( 'streampay' => array( 'enabled' => 'yes' ) ), 'sidecar' => array( 'gateways.streampay.client_id' => 'c3' ) ) );
		$this->assertSame( 'error', $notices[0][0] );
		$this->assertStringContainsString( 'could not be reached', $notices[1][1] );
		$this->assertFalse( get_option( 'woocommerce_wcbridge_streampay_settings' ) );
		$this->assertNull( Settings::get( 'sidecar' ) );
		// Turning every method off needs nobody: saved, and said so.
		update_option( 'woocommerce_wcbridge_streampay_settings', array( 'enabled' => 'yes' ) );
		$notices = Admin_Settings::apply( array( 'gateways' => array( 'streampay' => array( 'description' => 'x' ) ) ) );
		$this->assertSame( 'updated', $notices[0][0], print_r( $notices, true ) );
		$this->assertStringContainsString( 'every crypto payment method is off', $notices[0][1] );
		$this->assertSame( 'no', get_option( 'woocommerce_wcbridge_streampay_settings' )['enabled'] );
	}

	public function test_enabling_without_a_connection_is_refused(): void {
		update_option( 'wcbridge_settings', array() );
		$notices = Admin_Settings::apply( array( 'sidecar_url' => 'not a url', 'gateways' => array( 'bitstream' => array( 'enabled' => 'yes' ) ) ) );
		$text    = implode( "\n", array_column( $notices, 1 ) );
		$this->assertStringContainsString( 'Sidecar URL: must be an http:// or https:// address', $text );
		$this->assertStringContainsString( 'need the sidecar connection', $text );
		$this->assertSame( array(), get_option( 'wcbridge_settings' ) );
	}

	/** @dataProvider availability */
	public function test_method_offered_only_while_sidecar_answers_and_gateway_configured( $status, bool $enabled_in_wp, bool $want ): void {
		update_option( 'woocommerce_wcbridge_streampay_settings', array( 'enabled' => $enabled_in_wp ? 'yes' : 'no' ) );
		if ( null === $status ) {
			update_option( 'wcbridge_settings', array( 'sidecar_url' => 'http://127.0.0.1:9', 'shared_secret' => FakeSidecar::SECRET ) );
		} else {
			self::$sidecar->answer( 'GET /v1/status', 200, $status );
		}
		$gw = new \WCBridge\Gateway_StreamPay();
		$this->assertSame( $want, $gw->is_available() );
		// Cached: many checkout page views, one probe (configuration only).
		for ( $i = 0; $i < 5; $i++ ) {
			$this->assertSame( $want, ( new \WCBridge\Gateway_StreamPay() )->is_available() );
		}
		$probes = array_filter( self::$sidecar->requests(), static fn( $r ) => 'GET' === $r['method'] );
		if ( $enabled_in_wp ) {
			$this->assertLessThanOrEqual( 1, count( $probes ) );
			foreach ( $probes as $p ) {
				$this->assertSame( '/v1/status?probe=0', $p['path'], 'no gateway is asked' );
			}
		}
	}

	public function availability(): array {
		$gw = static fn( bool $enabled, bool $configured ) => array( 'gateways' => array( 'streampay' => array( 'enabled' => $enabled, 'configured' => $configured ) ) );
		return array(
			'configured, answering'      => array( $gw( true, true ), true, true ),
			'switched off in WordPress'  => array( $gw( true, true ), false, false ),
			'not configured'             => array( $gw( true, false ), true, false ),
			'disabled in the sidecar'    => array( $gw( false, false ), true, false ),
			'sidecar does not answer'    => array( null, true, false ),
		);
	}

	public function test_checkout_failure_stops_offering_at_once(): void {
		self::$sidecar->answer( 'GET /v1/status', 200, array( 'gateways' => array( 'streampay' => array( 'enabled' => true, 'configured' => true ) ) ) );
		update_option( 'woocommerce_wcbridge_streampay_settings', array( 'enabled' => 'yes' ) );
		$this->assertTrue( ( new \WCBridge\Gateway_StreamPay() )->is_available() );
		Settings::remember_health( new WP_Error( 'unreachable', 'connection refused' ) );
		$this->assertFalse( ( new \WCBridge\Gateway_StreamPay() )->is_available() );
	}

	public function test_payments_page_needs_setup_icon_and_description(): void {
		self::$sidecar->answer( 'GET /v1/status', 200, array( 'gateways' => array( 'streampay' => array( 'enabled' => true, 'configured' => true ), 'cryptocloud' => array( 'enabled' => false, 'configured' => false ) ) ) );
		$sp = new \WCBridge\Gateway_StreamPay();
		$cc = new \WCBridge\Gateway_CryptoCloud();
		$this->assertFalse( $sp->needs_setup() );
		$this->assertTrue( $cc->needs_setup(), 'no credentials in the sidecar' );
		update_option( 'wcbridge_settings', array() );
		delete_transient( Settings::HEALTH );
		$this->assertTrue( ( new \WCBridge\Gateway_Bitstream() )->needs_setup(), 'no sidecar connection' );

		foreach ( array( $sp, $cc, new \WCBridge\Gateway_Bitstream() ) as $gw ) {
			// WooCommerce 10's Payments page: a URL (not an <img>), at most 75
			// characters of title and 130 of description, no HTML.
			$this->assertMatchesRegularExpression( '#^https://[^<>"\s]+\.svg$#', $gw->icon );
			$this->assertFileExists( dirname( __DIR__ ) . '/assets/' . basename( $gw->icon ) );
			$this->assertLessThanOrEqual( 75, mb_strlen( $gw->method_title ) );
			$this->assertLessThanOrEqual( 130, mb_strlen( $gw->method_description ) );
			$this->assertSame( strip_tags( $gw->method_description ), $gw->method_description );
			$this->assertStringContainsString( 'tab=wcbridge', $gw->get_settings_url() );
		}
	}

	public function test_every_setting_the_readme_offers_is_on_the_page(): void {
		// README's configuration reference, column "WP" = yes: the shop owner
		// can change it from WordPress, so the settings page must show it.
		$readme = (string) file_get_contents( dirname( __DIR__, 2 ) . '/README.md' );
		preg_match_all( '/^\| `([a-z_.]+)` \|[^|]*\| yes \|/m', $readme, $m );
		$this->assertNotEmpty( $m[1] );
		$page = array_keys( Settings::sidecar_fields() );
		foreach ( Settings::GATEWAYS as $g ) {
			$page[] = Settings::enabled_key( $g );
		}
		sort( $page );
		$readme_keys = $m[1];
		sort( $readme_keys );
		$this->assertSame( $readme_keys, $page );
	}

	public function test_enabled_switch_from_woocommerce_payments_screen_is_pushed(): void {
		\WCBridge\Plugin::boot();
		self::$sidecar->answer( 'PUT /v1/settings', 200, array( 'settings' => array() ) );
		update_option( 'woocommerce_wcbridge_bitstream_settings', array( 'enabled' => 'yes' ) );
		$puts = array_values( array_filter( self::$sidecar->requests(), static fn( $r ) => 'PUT' === $r['method'] ) );
		$this->assertCount( 1, $puts );
		$this->assertSame( array( 'settings' => array( 'gateways.bitstream.enabled' => 'true' ) ), json_decode( $puts[0]['body'], true ) );
	}

	public function test_test_connection_report(): void {
		self::$sidecar->answer(
			'GET /v1/status',
			200,
			array(
				'version'        => '0.1.0',
				'storage_mode'   => 'hpos',
				'database'       => 'ok',
				'outbox_backlog' => 0,
				'gateways'       => array(
					'streampay'   => array( 'enabled' => true, 'configured' => true, 'reachable' => true, 'callback_url' => 'https://bridge.example/v1/callbacks/streampay', 'last_callback_accepted' => '2026-11-21T17:00:00Z', 'last_callback_rejected' => '2026-11-21T16:00:00Z', 'last_rejected_reason' => 'signature invalid' ),
					'cryptocloud' => array( 'enabled' => true, 'configured' => true, 'reachable' => true, 'problem_payments' => 1, 'last_payment_problem' => 'order 12 (payment 3, 2026-11-21T17:00:00Z): paid in test mode: not counted; turn on allow_test_mode to count test payments' ),
				),
			)
		);
		Admin_Settings::ajax_test_connection();
		$json = $GLOBALS['wcb']['json'];
		$this->assertTrue( $json['success'] );
		$this->assertSame( 'hpos', $json['data']['storage_mode'] );
		$this->assertSame( 'StreamPay', $json['data']['gateways'][0]['name'] );
		$this->assertSame( 'signature invalid', $json['data']['gateways'][0]['last_rejected_reason'] );
		$this->assertSame( 0, $json['data']['gateways'][0]['problem_payments'] );
		$this->assertSame( 1, $json['data']['gateways'][1]['problem_payments'], 'a payment that needs attention is reported' );
		$this->assertStringContainsString( 'paid in test mode: not counted', $json['data']['gateways'][1]['last_payment_problem'] );
		$this->assertTrue( get_transient( Settings::HEALTH )['ok'] );

		$GLOBALS['wcb']['user_can'] = false;
		Admin_Settings::ajax_test_connection();
		$this->assertFalse( $GLOBALS['wcb']['json']['success'] );
	}
}
