-- Tokens that stopped working (rotated, replaced, or their principal deleted), by SHA-256, so a
-- client presenting one is told it was revoked rather than that it was never known.
CREATE TABLE retired_tokens (
    hash BLOB PRIMARY KEY,
    retired_at INTEGER NOT NULL
) WITHOUT ROWID;
