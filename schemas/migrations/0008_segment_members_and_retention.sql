-- Endcap campaign store, version 8: segment members in the shared store, for deployments
-- without Redis (the embedded default). Members uploaded through the campaign API are then
-- seen by every ad server reading the same database. The primary key serves "members of a
-- segment" (clear, size); the second index serves the decision-time "segments of a user".
CREATE TABLE segment_members (
    segment_id TEXT NOT NULL,
    user_key   TEXT NOT NULL,
    PRIMARY KEY (segment_id, user_key)
);
CREATE INDEX segment_members_by_user ON segment_members (user_key, segment_id);

-- Retention (docs/ARCHITECTURE.md, "Retention"): the campaign API's hourly job deletes
-- rows past their age by these indexes instead of scanning the tables.
CREATE INDEX idempotency_keys_by_created ON idempotency_keys (created_at);
CREATE INDEX audit_log_by_at ON audit_log (at);
CREATE INDEX identity_links_by_updated ON identity_links (updated_at);
