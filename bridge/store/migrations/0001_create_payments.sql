-- One attempt to pay one order through one gateway. live_order_id holds the
-- order id while the status is live (creating, pending, underpaid) and NULL
-- otherwise: its UNIQUE index is what keeps one live payment per order when
-- several replicas share the database (NULLs never collide). due is 1 while
-- the reconciler still has work on the row (not final, or an application to
-- the order is outstanding), so claiming scans only (due, next_check_at).
CREATE TABLE IF NOT EXISTS `{prefix}wcbridge_payments` (
	id BIGINT NOT NULL AUTO_INCREMENT,
	order_id BIGINT NOT NULL,
	gateway VARCHAR(32) NOT NULL,
	gateway_id VARCHAR(191) NULL,
	reference VARCHAR(64) NOT NULL,
	status VARCHAR(16) NOT NULL,
	amount DECIMAL(36,18) NOT NULL,
	currency VARCHAR(16) NOT NULL,
	received DECIMAL(36,18) NOT NULL DEFAULT 0,
	received_currency VARCHAR(16) NOT NULL DEFAULT '',
	gateway_amount DECIMAL(36,18) NOT NULL DEFAULT 0,
	gateway_currency VARCHAR(16) NOT NULL DEFAULT '',
	gateway_received DECIMAL(36,18) NOT NULL DEFAULT 0,
	gateway_received_currency VARCHAR(16) NOT NULL DEFAULT '',
	tx_ref VARCHAR(191) NOT NULL DEFAULT '',
	pay_url VARCHAR(1024) NOT NULL DEFAULT '',
	expires_at DATETIME(6) NULL,
	created_at DATETIME(6) NOT NULL,
	updated_at DATETIME(6) NOT NULL,
	applied_status VARCHAR(16) NOT NULL DEFAULT '',
	next_check_at DATETIME(6) NOT NULL,
	due TINYINT(1) NOT NULL DEFAULT 1,
	checks INT NOT NULL DEFAULT 0,
	last_error VARCHAR(1024) NOT NULL DEFAULT '',
	lease_owner VARCHAR(64) NULL,
	lease_until DATETIME(6) NULL,
	live_order_id BIGINT NULL,
	PRIMARY KEY (id),
	UNIQUE KEY gateway_payment (gateway, gateway_id),
	UNIQUE KEY reference (reference),
	UNIQUE KEY live_order (live_order_id),
	KEY order_id (order_id),
	KEY due_check (due, next_check_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
