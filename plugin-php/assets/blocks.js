/* wcbridge: the crypto payment methods in the block checkout (no build step). */
( function () {
	'use strict';
	var registry = window.wc && window.wc.wcBlocksRegistry;
	var settings = window.wc && window.wc.wcSettings;
	var el = window.wp && window.wp.element && window.wp.element.createElement;
	if ( ! registry || ! settings || ! el ) {
		return;
	}
	var decode = ( window.wp.htmlEntities && window.wp.htmlEntities.decodeEntities ) || function ( s ) { return s; };

	[ 'wcbridge_streampay', 'wcbridge_cryptocloud', 'wcbridge_bitstream' ].forEach( function ( name ) {
		// WooCommerce 9+ groups the data under paymentMethodData; older versions use <name>_data.
		var all = settings.getSetting( 'paymentMethodData', {} ) || {};
		var data = all[ name ] || settings.getSetting( name + '_data', null );
		if ( ! data ) {
			return;
		}
		var title = decode( data.title || '' );
		var Label = function () {
			return el(
				'span',
				{ className: 'wcbridge-label', style: { display: 'flex', alignItems: 'center', gap: '0.5em' } },
				data.icon ? el( 'img', { src: data.icon, alt: '', width: 24, height: 24 } ) : null,
				title
			);
		};
		var Content = function () {
			return el( 'p', { className: 'wcbridge-description' }, decode( data.description || '' ) );
		};
		registry.registerPaymentMethod( {
			name: name,
			label: el( Label ),
			content: el( Content ),
			edit: el( Content ),
			canMakePayment: function () { return true; },
			ariaLabel: title,
			supports: { features: data.supports || [ 'products' ] }
		} );
	} );
}() );
