-- Endcap campaign store, version 9: user sync. One row per (exchange, the exchange's user
-- id), the exchange's id stored only as HMAC-SHA256 keyed by ENDCAP_USER_KEY_SALT (never
-- raw), with our user key (the `endcap_uid` cookie's value, random SHA-256-shaped hex). The
-- ad server writes it on `GET /v1/usersync` and reads it when a bid request's `user.buyeruid`
-- or `user.id` is the exchange's own id. Pairs not refreshed for 90 days are deleted by the
-- campaign API's retention job (by the second index); the third serves data-subject
-- deletion by our user key.
CREATE TABLE exchange_user_ids (
    exchange   TEXT NOT NULL,
    uid_key    TEXT NOT NULL,
    user_key   TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (exchange, uid_key)
);
CREATE INDEX exchange_user_ids_by_updated ON exchange_user_ids (updated_at);
CREATE INDEX exchange_user_ids_by_user ON exchange_user_ids (user_key);
