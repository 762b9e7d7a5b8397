-- Endcap campaign store, version 7: a change sequence kept by the database. Every write of a
-- stored object bumps it in the same transaction, so the ad server's change check no longer
-- compares timestamps from the writers' clocks (a replica with a slow clock could write a
-- change older than MAX(updated_at) and go unseen).
CREATE TABLE store_changes (
    id  INTEGER PRIMARY KEY,
    seq BIGINT NOT NULL
);
INSERT INTO store_changes (id, seq) VALUES (1, 0);
