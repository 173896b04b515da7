-- failures counts the reconciler's consecutive failed looks at a payment
-- (reset by a successful one): its retries back off on these, not on the
-- total number of looks.
ALTER TABLE `{prefix}wcbridge_payments` ADD COLUMN failures INT NOT NULL DEFAULT 0;
