/* wcbridge: "Test connection" and copy buttons on the settings tab. */
( function () {
	'use strict';
	var cfg = window.wcbridgeAdmin;
	if ( ! cfg ) {
		return;
	}
	var t = cfg.i18n;

	function line( parent, text ) {
		var li = document.createElement( 'li' );
		li.textContent = text;
		parent.appendChild( li );
		return li;
	}

	function report( box, data ) {
		box.textContent = '';
		var ul = document.createElement( 'ul' );
		line( ul, t.version + ': ' + data.version );
		line( ul, t.storage + ': ' + data.storage_mode );
		line( ul, t.database + ': ' + data.database );
		line( ul, t.backlog + ': ' + data.outbox_backlog );
		( data.gateways || [] ).forEach( function ( g ) {
			var state = ! g.enabled ? t.disabled : ( g.reachable ? t.reachable : t.unreachable );
			var text = g.name + ': ' + state +
				'; ' + t.accepted + ': ' + ( g.last_callback_accepted || t.never ) +
				'; ' + t.rejected + ': ' + ( g.last_callback_rejected || t.never ) +
				( g.last_rejected_reason ? ' (' + g.last_rejected_reason + ')' : '' ) +
				( g.enabled && ! g.reachable && g.problem ? ' — ' + g.problem : '' ) +
				( g.problem_payments ? '; ' + t.payments + ': ' + g.problem_payments + ' (' + g.last_payment_problem + ')' : '' );
			var li = line( ul, text );
			if ( g.callback_url ) {
				var code = document.createElement( 'code' );
				code.textContent = g.callback_url;
				li.appendChild( document.createTextNode( ' ' ) );
				li.appendChild( code );
				var btn = document.createElement( 'button' );
				btn.type = 'button';
				btn.className = 'button button-small wcbridge-copy';
				btn.setAttribute( 'data-copy', g.callback_url );
				btn.textContent = t.copy;
				li.appendChild( document.createTextNode( ' ' ) );
				li.appendChild( btn );
			}
		} );
		box.appendChild( ul );
	}

	document.addEventListener( 'click', function ( e ) {
		var target = e.target;
		if ( target.id === 'wcbridge-test-connection' ) {
			var box = document.getElementById( 'wcbridge-status-report' );
			box.textContent = t.testing;
			var body = new window.URLSearchParams();
			body.append( 'action', cfg.action );
			body.append( 'nonce', cfg.nonce );
			window.fetch( cfg.ajaxUrl, { method: 'POST', credentials: 'same-origin', body: body } )
				.then( function ( res ) { return res.json(); } )
				.then( function ( res ) {
					if ( res && res.success ) {
						report( box, res.data );
					} else {
						box.textContent = t.failed + ' ' + ( res && res.data && res.data.message ? res.data.message : '' );
					}
				} )
				.catch( function ( err ) { box.textContent = t.failed + ' ' + err; } );
		}
		if ( target.classList && target.classList.contains( 'wcbridge-copy' ) ) {
			var value = target.getAttribute( 'data-copy' );
			if ( navigator.clipboard ) {
				navigator.clipboard.writeText( value ).then( function () { target.textContent = t.copied; } );
			}
		}
	} );
}() );
