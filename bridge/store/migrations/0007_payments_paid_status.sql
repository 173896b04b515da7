-- The status the shop's WooCommerce gives a paid order (the plugin evaluates
-- woocommerce_payment_complete_order_status at checkout); empty: the
-- sidecar decides from the line items. A re-run after a crash between this
-- statement and its record meets "duplicate column", which Migrate accepts.
ALTER TABLE `{prefix}wcbridge_payments` ADD COLUMN paid_status VARCHAR(20) NOT NULL DEFAULT ''
