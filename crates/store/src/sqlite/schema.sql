-- callside schema, version 1. Times are milliseconds since the Unix epoch.

CREATE TABLE principals (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('device', 'service', 'admin')),
    name        TEXT NOT NULL,
    scopes      TEXT NOT NULL DEFAULT '',      -- comma-separated, service accounts only
    created_at  INTEGER NOT NULL,
    deleted_at  INTEGER
) STRICT;

-- Numbers a device owns, and ranges a service account holds (E.164 / E.164 prefix).
CREATE TABLE numbers (
    principal   TEXT NOT NULL REFERENCES principals(id),
    number      TEXT NOT NULL,
    is_range    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (principal, number)
) STRICT;
CREATE INDEX numbers_by_number ON numbers(number);

-- Bearer tokens, kept only as SHA-256 of the token.
CREATE TABLE tokens (
    hash        BLOB PRIMARY KEY,
    principal   TEXT NOT NULL REFERENCES principals(id),
    created_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX tokens_by_principal ON tokens(principal);

CREATE TABLE sessions (
    key         TEXT PRIMARY KEY,
    origin      TEXT NOT NULL,                 -- 'paired_legs' | 'network'
    call_id     TEXT,                          -- network call, when bound to one
    lifecycle   TEXT NOT NULL,
    call_state  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    closed      TEXT,                          -- close reason code
    closed_by   TEXT,
    last_seq    INTEGER NOT NULL DEFAULT 0,
    last_activity INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE participants (
    session     TEXT NOT NULL REFERENCES sessions(key),
    principal   TEXT NOT NULL REFERENCES principals(id),
    number      TEXT,
    joined_at   INTEGER NOT NULL,
    acked_seq   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (session, principal)
) STRICT;
CREATE INDEX participants_by_principal ON participants(principal);

CREATE TABLE messages (
    session     TEXT NOT NULL REFERENCES sessions(key),
    seq         INTEGER NOT NULL,
    sender      TEXT NOT NULL,
    client_id   TEXT,
    kind        TEXT NOT NULL,
    body        TEXT NOT NULL,
    sent_at     INTEGER NOT NULL,
    PRIMARY KEY (session, seq)
) STRICT, WITHOUT ROWID;
CREATE UNIQUE INDEX messages_client_id ON messages(session, sender, client_id)
    WHERE client_id IS NOT NULL;

CREATE TABLE legs (
    id          TEXT PRIMARY KEY,
    principal   TEXT NOT NULL,
    own         TEXT NOT NULL,
    other       TEXT,
    direction   TEXT NOT NULL,
    call_ref    TEXT,
    extension   TEXT,
    conference_id TEXT,
    registry    TEXT,
    lifecycle   TEXT,
    reported_at INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    state       TEXT NOT NULL,                 -- 'pending' | 'matched' | 'no_match'
    reason      TEXT,
    session     TEXT
) STRICT;
CREATE INDEX legs_pending ON legs(state) WHERE state = 'pending';

-- Calls reported by network elements.
CREATE TABLE calls (
    id          TEXT PRIMARY KEY,
    reporter    TEXT NOT NULL,
    call_ref    TEXT NOT NULL,
    caller      TEXT NOT NULL,
    callee      TEXT NOT NULL,
    state       TEXT NOT NULL,
    session     TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    UNIQUE (reporter, call_ref)
) STRICT;

CREATE TABLE blobs (
    id          TEXT PRIMARY KEY,              -- sha256:<hex>
    size        INTEGER NOT NULL,
    mime        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;

-- Who may read a blob: its uploaders, and participants of sessions whose log references it.
CREATE TABLE blob_uploaders (
    blob        TEXT NOT NULL REFERENCES blobs(id),
    principal   TEXT NOT NULL,
    PRIMARY KEY (blob, principal)
) STRICT, WITHOUT ROWID;
CREATE TABLE blob_refs (
    blob        TEXT NOT NULL,
    session     TEXT NOT NULL,
    PRIMARY KEY (blob, session)
) STRICT, WITHOUT ROWID;
