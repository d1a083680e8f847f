-- Tokens that stopped working (rotated, replaced, or their principal deleted), by SHA-256, so a
-- client presenting one is told it was revoked rather than that it was never known.
CREATE TABLE retired_tokens (
    hash BYTEA PRIMARY KEY,
    retired_at BIGINT NOT NULL
);
