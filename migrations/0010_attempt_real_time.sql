-- The recovery job gives a payment attempt up a grace period after its claim by real time
-- (`claimed_at_system`), not by the test clock (`claimed_at`): moving the clock must not make
-- the job spend the key of a payment still under way. Attempts claimed before this migration
-- have none and fall back to `claimed_at`.
ALTER TABLE payment_attempts ADD COLUMN claimed_at_system BIGINT;
CREATE INDEX payment_attempts_claimed_system ON payment_attempts (claimed_at_system) WHERE settled_at IS NULL;
