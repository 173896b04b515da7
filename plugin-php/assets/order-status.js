/* wcbridge: refreshes the crypto payment state on the order pages without a reload. */
( function () {
	'use strict';
	var cfg = window.wcbridgeOrderStatus;
	if ( ! cfg || ! window.fetch ) {
		return;
	}
	var maxPolls = 180;

	function poll( box, recheck, count ) {
		var body = new window.URLSearchParams();
		body.append( 'action', cfg.action );
		body.append( 'order_id', box.getAttribute( 'data-order-id' ) );
		body.append( 'key', box.getAttribute( 'data-order-key' ) );
		if ( recheck ) {
			body.append( 'recheck', '1' );
		}
		window.fetch( cfg.ajaxUrl, { method: 'POST', credentials: 'same-origin', body: body } )
			.then( function ( res ) { return res.json(); } )
			.then( function ( res ) {
				if ( res && res.success && res.data ) {
					box.innerHTML = res.data.html;
					if ( res.data.final ) {
						return;
					}
				}
				schedule( box, count + 1 );
			} )
			.catch( function () { schedule( box, count + 1 ); } );
	}

	function schedule( box, count ) {
		if ( count < maxPolls ) {
			window.setTimeout( function () { poll( box, false, count ); }, cfg.interval );
		}
	}

	document.querySelectorAll( '.wcbridge-payment-state' ).forEach( function ( box ) {
		if ( box.getAttribute( 'data-recheck' ) === '1' ) {
			poll( box, true, 0 );
		} else if ( box.getAttribute( 'data-final' ) !== '1' ) {
			schedule( box, 0 );
		}
	} );
}() );
