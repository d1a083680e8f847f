-- callside schema, version 7: software components and capabilities (S1-F6–F8).

-- The component catalogue: id → where to get it, current version.
CREATE TABLE components (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    version       TEXT NOT NULL,
    url           TEXT NOT NULL,
    sha256        TEXT,
    authorization INTEGER NOT NULL,            -- 1: using it needs the authorization server
    updated_at    INTEGER NOT NULL
) STRICT;

-- What each device declared it can do (the registry's capability data).
CREATE TABLE capabilities (
    principal   TEXT PRIMARY KEY REFERENCES principals(id),
    features    TEXT NOT NULL,                 -- comma-separated feature names
    updated_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE capability_components (
    principal   TEXT NOT NULL REFERENCES principals(id),
    component   TEXT NOT NULL,
    version     TEXT NOT NULL,
    PRIMARY KEY (principal, component)
) STRICT, WITHOUT ROWID;

-- An invitation may carry a component offered once the session is up.
ALTER TABLE invitations ADD COLUMN component TEXT;
