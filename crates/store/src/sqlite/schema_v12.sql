-- callside schema, version 12: browsers (issue 14). A browser is linked to a device by a
-- one-time code the device asked for (`browser_links`, by the code's SHA-256, gone once used);
-- it then holds a short-lived access token and a refresh token (`browsers`, by their SHA-256).
-- Refreshing replaces both and keeps the refresh token it replaced, so presenting that one again
-- (a stolen copy) is recognised and ends the browser's link.
CREATE TABLE browser_links (
    code_hash  BLOB PRIMARY KEY,
    device     TEXT NOT NULL REFERENCES principals(id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE browsers (
    id                    TEXT PRIMARY KEY,
    device                TEXT NOT NULL REFERENCES principals(id),
    name                  TEXT NOT NULL,
    created_at            INTEGER NOT NULL,
    access_hash           BLOB NOT NULL UNIQUE,
    access_expires_at     INTEGER NOT NULL,
    refresh_hash          BLOB NOT NULL UNIQUE,
    refresh_expires_at    INTEGER NOT NULL,
    previous_refresh_hash BLOB,
    refreshed_at          INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX browsers_by_device ON browsers (device, created_at);
CREATE INDEX browsers_by_previous_refresh ON browsers (previous_refresh_hash)
    WHERE previous_refresh_hash IS NOT NULL;
