-- Learner keys whose retirement has finished, queued in the transaction
-- that finished it and destroyed in the key store after its commit; what
-- a failure or a crash leaves here is destroyed at the next start, or by
-- the periodic sweep.
CREATE TABLE keys_to_destroy (
    key_id  TEXT   NOT NULL PRIMARY KEY,
    created BIGINT NOT NULL
);
