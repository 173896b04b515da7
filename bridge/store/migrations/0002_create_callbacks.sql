-- Every received gateway callback, recorded before it counts. (gateway,
-- body_hash) is unique so an identical redelivery is recorded once.
-- Unverified callbacks are kept (truncated) only for the admin page.
CREATE TABLE IF NOT EXISTS `{prefix}wcbridge_callbacks` (
	id BIGINT NOT NULL AUTO_INCREMENT,
	gateway VARCHAR(32) NOT NULL,
	received_at DATETIME(6) NOT NULL,
	content_type VARCHAR(255) NOT NULL DEFAULT '',
	body MEDIUMBLOB NOT NULL,
	body_hash CHAR(64) NOT NULL,
	verified TINYINT(1) NOT NULL DEFAULT 0,
	reason VARCHAR(255) NOT NULL DEFAULT '',
	payment_key VARCHAR(191) NOT NULL DEFAULT '',
	applied_at DATETIME(6) NULL,
	attempts INT NOT NULL DEFAULT 0,
	next_attempt_at DATETIME(6) NOT NULL,
	lease_owner VARCHAR(64) NULL,
	lease_until DATETIME(6) NULL,
	PRIMARY KEY (id),
	UNIQUE KEY gateway_body (gateway, body_hash),
	KEY claim (verified, applied_at, next_attempt_at),
	KEY gateway_received (gateway, verified, received_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
