-- callside schema, version 5: email identities (S2-E, S2-V).

-- Addresses a device proved it reads mail for (lower case).
CREATE TABLE emails (
    principal   TEXT NOT NULL REFERENCES principals(id),
    email       TEXT NOT NULL,
    bound_at    INTEGER NOT NULL,
    PRIMARY KEY (principal, email)
) STRICT;
CREATE INDEX emails_by_email ON emails(email);

CREATE TABLE email_validations (
    id          TEXT PRIMARY KEY,
    device      TEXT NOT NULL REFERENCES principals(id),
    email       TEXT NOT NULL,
    token_hash  BLOB NOT NULL,                 -- SHA-256 of the token mailed
    state       TEXT NOT NULL,                 -- 'sent' | 'validated' | 'failed'
    failures    INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX email_validations_by_expiry ON email_validations(expires_at);
