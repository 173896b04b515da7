-- unit_scale is the scale of the gateway's integer amounts a payment was
-- created with (Bitstream: 8, amounts in 10^-8 of the token), NULL where the
-- gateway's amounts are decimals or the payment predates the column. A
-- payment keeps its scale when the configuration changes.
ALTER TABLE `{prefix}wcbridge_payments` ADD COLUMN unit_scale SMALLINT NULL;
