-- Notifications to WordPress, written in the same transaction as the payment
-- change they report; event_id is unique so each is queued once.
CREATE TABLE IF NOT EXISTS `{prefix}wcbridge_outbox` (
	id BIGINT NOT NULL AUTO_INCREMENT,
	event_id VARCHAR(191) NOT NULL,
	order_id BIGINT NOT NULL,
	payload MEDIUMTEXT NOT NULL,
	attempts INT NOT NULL DEFAULT 0,
	next_attempt_at DATETIME(6) NOT NULL,
	delivered_at DATETIME(6) NULL,
	last_error VARCHAR(1024) NOT NULL DEFAULT '',
	lease_owner VARCHAR(64) NULL,
	lease_until DATETIME(6) NULL,
	created_at DATETIME(6) NOT NULL,
	PRIMARY KEY (id),
	UNIQUE KEY event_id (event_id),
	KEY claim (delivered_at, next_attempt_at),
	KEY order_id (order_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
