-- callside schema, version 11: screens (S1-F11–F21). `screens` holds the screens automated
-- systems sent on sessions, so an acknowledgement or a region's activation can be checked against
-- what was offered (a screen sent again under the same id replaces the row); `system_screens` the
-- predetermined screen each system keeps on the server, sent when a call reaches it. A network
-- call diverted to voicemail keeps where it went (its session is then the caller's with the
-- voicemail). `conferences` maps a conference (its dial-in number and id) to its session.
-- `couplings` says how a device is coupled to its numbers' phone line (S1-F0): whether it gets
-- network calls' sessions always (no row), only while near (until near_until), or never.
CREATE TABLE screens (
    session TEXT NOT NULL REFERENCES sessions(key),
    id      TEXT NOT NULL,
    sender  TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    regions TEXT NOT NULL,        -- region ids, one per line
    PRIMARY KEY (session, id)
) WITHOUT ROWID;

CREATE TABLE system_screens (
    principal  TEXT PRIMARY KEY REFERENCES principals(id),
    id         TEXT NOT NULL,
    regions    TEXT NOT NULL,     -- region ids, one per line
    body       TEXT NOT NULL,     -- the screen as sent (JSON)
    image      TEXT,              -- the blob it shows, if any
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;

ALTER TABLE calls ADD COLUMN diverted_to TEXT;

CREATE TABLE conferences (
    bridge     TEXT NOT NULL,     -- the dial-in number
    id         TEXT NOT NULL,     -- the conference id the parties reported
    session    TEXT NOT NULL REFERENCES sessions(key),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (bridge, id)
) WITHOUT ROWID;

CREATE TABLE couplings (
    principal  TEXT PRIMARY KEY REFERENCES principals(id),
    mode       TEXT NOT NULL CHECK (mode IN ('always', 'when_near', 'never')),
    near_until INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
