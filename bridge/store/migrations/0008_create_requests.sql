-- Ids of signed requests from the plugin already received, so a captured
-- request sent again within its signature window is refused, whichever
-- replica it reaches. A row is needed only until its request's signature
-- expires (expires_at); the retention pass deletes it then.
CREATE TABLE IF NOT EXISTS `{prefix}wcbridge_requests` (
	request_id VARCHAR(64) NOT NULL,
	expires_at DATETIME(6) NOT NULL,
	PRIMARY KEY (request_id),
	KEY expires_at (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=ascii COLLATE=ascii_bin;
