const registered = [];
global.window = {
  wc: { wcBlocksRegistry: { registerPaymentMethod: (m) => registered.push(m) },
        wcSettings: { getSetting: (k, d) => k === 'paymentMethodData' ? { wcbridge_streampay: { title: 'Crypto &amp; more', description: 'x', icon: 'i.svg', supports: ['products'] } } : d } },
  wp: { element: { createElement: (t, p, ...c) => ({ t, p, c }) }, htmlEntities: { decodeEntities: (s) => s.replace('&amp;', '&') } },
};
require(require('path').join(__dirname, '../../assets/blocks.js'));
if (registered.length !== 1 || registered[0].name !== 'wcbridge_streampay' || registered[0].ariaLabel !== 'Crypto & more' || !registered[0].canMakePayment()) { console.error('FAIL', registered); process.exit(1); }
console.log('blocks.js registers', registered.map(r => r.name));
