-- callside schema, version 2: numbers proven by SMS (S2-R).

-- How each device number was bound, and when (proofs are refreshed by proving again).
ALTER TABLE numbers ADD COLUMN source TEXT NOT NULL DEFAULT 'provisioned';
ALTER TABLE numbers ADD COLUMN bound_at INTEGER NOT NULL DEFAULT 0;

CREATE TABLE number_proofs (
    id          TEXT PRIMARY KEY,
    device      TEXT NOT NULL REFERENCES principals(id),
    code_hash   BLOB NOT NULL UNIQUE,          -- SHA-256 of the single-use code
    number      TEXT,                          -- the SMS sender, once it arrived
    nonce       BLOB,
    state       TEXT NOT NULL,                 -- 'awaiting_sms' | 'sms_sent' | 'proven' | 'failed'
    failures    INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX number_proofs_by_expiry ON number_proofs(expires_at);
