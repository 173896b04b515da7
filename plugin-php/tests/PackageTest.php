<?php
/**
 * What WordPress.org and WordPress itself read from the plugin's files.
 *
 * @package WCBridge
 */

declare(strict_types=1);

use PHPUnit\Framework\TestCase;

final class PackageTest extends TestCase {
	/**
	 * Header reads a plugin header field as WordPress's get_file_data does.
	 */
	private static function header( string $name ): string {
		$head = (string) file_get_contents( dirname( __DIR__ ) . '/wcbridge.php', false, null, 0, 8192 );
		return preg_match( '/^[ \t\/*#@]*' . preg_quote( $name, '/' ) . ':(.*)$/mi', $head, $m ) ? trim( $m[1] ) : '';
	}

	public function test_update_uri_keeps_wordpress_org_from_replacing_the_plugin(): void {
		$uri = self::header( 'Update URI' );
		$this->assertNotSame( '', $uri, 'no Update URI header: a plugin of the same slug on WordPress.org would be offered as an update' );
		$this->assertStringStartsWith( 'https://github.com/wcbridge/', $uri );
		$this->assertSame( 'GPL-2.0-or-later', self::header( 'License' ) );
	}

	public function test_readme_describes_the_external_services(): void {
		$readme = (string) file_get_contents( dirname( __DIR__ ) . '/readme.txt' );
		$this->assertMatchesRegularExpression( '/^== External services ==$/m', $readme );
		$section = substr( $readme, (int) strpos( $readme, '== External services ==' ) );
		$section = substr( $section, 0, (int) strpos( $section, "\n== ", 5 ) );
		foreach ( array( 'sidecar', 'shared secret', 'order id', 'billing e-mail', 'amount and currency', 'StreamPay — https://', 'CryptoCloud — https://', 'Bitstream — https://', 'terms', 'privacy' ) as $needle ) {
			$this->assertStringContainsString( $needle, $section, "External services does not say: $needle" );
		}
	}
}
