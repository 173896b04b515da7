-- Settings the shop owner pushes from WordPress.
CREATE TABLE IF NOT EXISTS `{prefix}wcbridge_settings` (
	name VARCHAR(191) NOT NULL,
	value MEDIUMTEXT NOT NULL,
	updated_at DATETIME(6) NOT NULL,
	PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
