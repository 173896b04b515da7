-- watch is 1 while the reconciler keeps looking at a final payment the
-- gateway still has news for (StreamPay's ERR_CALLBACK: paid, its callback
-- with the received amount still being retried); such a row stays due.
ALTER TABLE `{prefix}wcbridge_payments` ADD COLUMN watch TINYINT(1) NOT NULL DEFAULT 0;
