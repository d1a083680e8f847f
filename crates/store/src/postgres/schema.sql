-- callside on PostgreSQL, schema version 1: the same tables as SQLite's version 12.
-- Tables whose rows SQLite lists in rowid order have an `ord` identity column instead.
-- Times are milliseconds since the Unix epoch (BIGINT); hashes are BYTEA; flags are BOOLEAN.

CREATE TABLE principals (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('device', 'service', 'admin')),
    name        TEXT NOT NULL,
    scopes      TEXT NOT NULL DEFAULT '',      -- comma-separated, service accounts only
    created_at  BIGINT NOT NULL,
    deleted_at  BIGINT
);

CREATE TABLE numbers (
    ord         BIGINT GENERATED ALWAYS AS IDENTITY,  -- insertion order (SQLite's rowid)
    principal   TEXT NOT NULL REFERENCES principals(id),
    number      TEXT NOT NULL,
    is_range    BOOLEAN NOT NULL DEFAULT FALSE,
    source      TEXT NOT NULL DEFAULT 'provisioned',
    bound_at    BIGINT NOT NULL DEFAULT 0,
    owned_since BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (principal, number)
);
CREATE INDEX numbers_by_number ON numbers(number);

CREATE TABLE tokens (
    hash        BYTEA PRIMARY KEY,
    principal   TEXT NOT NULL REFERENCES principals(id),
    created_at  BIGINT NOT NULL
);
CREATE INDEX tokens_by_principal ON tokens(principal);

CREATE TABLE sessions (
    key         TEXT PRIMARY KEY,
    origin      TEXT NOT NULL,
    call_id     TEXT,
    lifecycle   TEXT NOT NULL,
    call_state  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    closed      TEXT,
    closed_by   TEXT,
    last_seq    BIGINT NOT NULL DEFAULT 0,
    last_activity BIGINT NOT NULL
);

CREATE TABLE participants (
    ord         BIGINT GENERATED ALWAYS AS IDENTITY,  -- insertion order (SQLite's rowid)
    session     TEXT NOT NULL REFERENCES sessions(key),
    principal   TEXT NOT NULL REFERENCES principals(id),
    number      TEXT,
    joined_at   BIGINT NOT NULL,
    acked_seq   BIGINT NOT NULL DEFAULT 0,
    joined_seq  BIGINT NOT NULL DEFAULT 0,
    history     TEXT,
    PRIMARY KEY (session, principal)
);
CREATE INDEX participants_by_principal ON participants(principal);

CREATE TABLE messages (
    session     TEXT NOT NULL REFERENCES sessions(key),
    seq         BIGINT NOT NULL,
    sender      TEXT NOT NULL,
    client_id   TEXT,
    kind        TEXT NOT NULL,
    body        TEXT NOT NULL,
    sent_at     BIGINT NOT NULL,
    PRIMARY KEY (session, seq)
);
CREATE UNIQUE INDEX messages_client_id ON messages(client_id, session, sender)
    WHERE client_id IS NOT NULL;

CREATE TABLE legs (
    ord         BIGINT GENERATED ALWAYS AS IDENTITY,  -- insertion order (SQLite's rowid)
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
    reported_at BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    state       TEXT NOT NULL,                 -- 'pending' | 'matched' | 'no_match'
    reason      TEXT,
    session     TEXT
);
CREATE INDEX legs_pending ON legs(state) WHERE state = 'pending';

CREATE TABLE calls (
    id          TEXT PRIMARY KEY,
    reporter    TEXT NOT NULL,
    call_ref    TEXT NOT NULL,
    caller      TEXT NOT NULL,
    callee      TEXT NOT NULL,
    state       TEXT NOT NULL,
    session     TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    diverted_to TEXT,
    UNIQUE (reporter, call_ref)
);

CREATE TABLE blobs (
    id          TEXT PRIMARY KEY,              -- sha256:<hex>
    size        BIGINT NOT NULL,
    mime        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE blob_uploaders (
    blob        TEXT NOT NULL REFERENCES blobs(id),
    principal   TEXT NOT NULL,
    PRIMARY KEY (blob, principal)
);

CREATE TABLE blob_refs (
    blob        TEXT NOT NULL,
    session     TEXT NOT NULL,
    seq         BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (blob, session)
);

CREATE TABLE number_proofs (
    id          TEXT PRIMARY KEY,
    device      TEXT NOT NULL REFERENCES principals(id),
    code_hash   BYTEA NOT NULL UNIQUE,
    number      TEXT,
    nonce       BYTEA,
    state       TEXT NOT NULL,
    failures    BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX number_proofs_by_expiry ON number_proofs(expires_at);

CREATE TABLE invitations (
    id          TEXT PRIMARY KEY,
    inviter     TEXT NOT NULL,
    inviter_name TEXT NOT NULL,
    from_number TEXT,
    invitee     TEXT NOT NULL,
    session     TEXT,
    leg         TEXT,
    via_sms     BOOLEAN NOT NULL DEFAULT FALSE,
    state       TEXT NOT NULL,
    answered_by TEXT,
    offer       TEXT,
    answer      TEXT,
    path        TEXT,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    component   TEXT
);
CREATE INDEX invitations_pending ON invitations(expires_at) WHERE state = 'pending';
CREATE INDEX invitations_pending_by_invitee ON invitations(invitee) WHERE state = 'pending';

CREATE TABLE invitation_devices (
    ord         BIGINT GENERATED ALWAYS AS IDENTITY,  -- insertion order (SQLite's rowid)
    invitation  TEXT NOT NULL REFERENCES invitations(id),
    device      TEXT NOT NULL,
    PRIMARY KEY (invitation, device)
);
CREATE INDEX invitation_devices_by_device ON invitation_devices(device);

CREATE TABLE push_subscriptions (
    id          TEXT PRIMARY KEY,
    device      TEXT NOT NULL,
    provider    TEXT NOT NULL,
    identity    BYTEA NOT NULL,
    data        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (device, identity)
);
CREATE INDEX push_subscriptions_by_device ON push_subscriptions(device);

CREATE TABLE audit_log (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    subject     TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT ''
);

CREATE TABLE emails (
    principal   TEXT NOT NULL REFERENCES principals(id),
    email       TEXT NOT NULL,
    bound_at    BIGINT NOT NULL,
    PRIMARY KEY (principal, email)
);
CREATE INDEX emails_by_email ON emails(email);

CREATE TABLE email_validations (
    id          TEXT PRIMARY KEY,
    device      TEXT NOT NULL REFERENCES principals(id),
    email       TEXT NOT NULL,
    token_hash  BYTEA NOT NULL,
    state       TEXT NOT NULL,
    failures    BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX email_validations_by_expiry ON email_validations(expires_at);

CREATE TABLE card_fields (
    principal   TEXT NOT NULL REFERENCES principals(id),
    id          TEXT NOT NULL,
    position    BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    value       TEXT NOT NULL,
    label       TEXT,
    version     BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (principal, id)
);

CREATE TABLE audiences (
    principal   TEXT NOT NULL REFERENCES principals(id),
    name        TEXT NOT NULL,
    position    BIGINT NOT NULL,
    members     TEXT NOT NULL,
    fields      TEXT NOT NULL,
    PRIMARY KEY (principal, name)
);

CREATE TABLE card_ledger (
    sender      TEXT NOT NULL,
    receiver    TEXT NOT NULL,
    field       TEXT NOT NULL,
    version     BIGINT NOT NULL,
    delivered_at BIGINT NOT NULL,
    PRIMARY KEY (sender, receiver, field)
);

CREATE TABLE call_notes (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    leg         TEXT NOT NULL,
    sender      TEXT NOT NULL,
    sender_name TEXT NOT NULL,
    from_number TEXT NOT NULL,
    to_number   TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX call_notes_by_to ON call_notes(to_number, created_at);

CREATE TABLE card_policies (
    principal   TEXT PRIMARY KEY REFERENCES principals(id),
    default_mode TEXT NOT NULL
);

CREATE TABLE card_policy_contacts (
    ord         BIGINT GENERATED ALWAYS AS IDENTITY,  -- insertion order (SQLite's rowid)
    principal   TEXT NOT NULL REFERENCES principals(id),
    number      TEXT NOT NULL,
    policy      TEXT NOT NULL,
    PRIMARY KEY (principal, number)
);

CREATE TABLE components (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    version       TEXT NOT NULL,
    url           TEXT NOT NULL,
    sha256        TEXT,
    needs_authorization BOOLEAN NOT NULL,      -- SQLite's `authorization` (reserved here)
    updated_at    BIGINT NOT NULL
);

CREATE TABLE capabilities (
    principal   TEXT PRIMARY KEY REFERENCES principals(id),
    features    TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE capability_components (
    principal   TEXT NOT NULL REFERENCES principals(id),
    component   TEXT NOT NULL,
    version     TEXT NOT NULL,
    PRIMARY KEY (principal, component)
);

CREATE TABLE screens (
    session TEXT NOT NULL REFERENCES sessions(key),
    id      TEXT NOT NULL,
    sender  TEXT NOT NULL,
    seq     BIGINT NOT NULL,
    regions TEXT NOT NULL,
    PRIMARY KEY (session, id)
);

CREATE TABLE system_screens (
    principal  TEXT PRIMARY KEY REFERENCES principals(id),
    id         TEXT NOT NULL,
    regions    TEXT NOT NULL,
    body       TEXT NOT NULL,
    image      TEXT,
    updated_at BIGINT NOT NULL
);

CREATE TABLE conferences (
    bridge     TEXT NOT NULL,
    id         TEXT NOT NULL,
    session    TEXT NOT NULL REFERENCES sessions(key),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (bridge, id)
);

CREATE TABLE couplings (
    principal  TEXT PRIMARY KEY REFERENCES principals(id),
    mode       TEXT NOT NULL CHECK (mode IN ('always', 'when_near', 'never')),
    near_until BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE browser_links (
    code_hash  BYTEA PRIMARY KEY,
    device     TEXT NOT NULL REFERENCES principals(id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE browsers (
    id                    TEXT PRIMARY KEY,
    device                TEXT NOT NULL REFERENCES principals(id),
    name                  TEXT NOT NULL,
    created_at            BIGINT NOT NULL,
    access_hash           BYTEA NOT NULL UNIQUE,
    access_expires_at     BIGINT NOT NULL,
    refresh_hash          BYTEA NOT NULL UNIQUE,
    refresh_expires_at    BIGINT NOT NULL,
    previous_refresh_hash BYTEA,
    refreshed_at          BIGINT NOT NULL
);
CREATE INDEX browsers_by_device ON browsers (device, created_at);
CREATE INDEX browsers_by_previous_refresh ON browsers (previous_refresh_hash)
    WHERE previous_refresh_hash IS NOT NULL;
