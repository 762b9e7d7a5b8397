-- Endcap campaign store, version 6: API keys can be listed by their first characters, given
-- an expiry, and revoked (revoked_at exists since version 1). Keys made before this version
-- have no prefix recorded and never expire.
ALTER TABLE api_keys ADD COLUMN key_prefix TEXT;
ALTER TABLE api_keys ADD COLUMN expires_at BIGINT;
