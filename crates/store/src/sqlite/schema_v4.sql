-- callside schema, version 4: push subscriptions (wake-ups for devices that are not connected).

CREATE TABLE push_subscriptions (
    id          TEXT PRIMARY KEY,
    device      TEXT NOT NULL,
    provider    TEXT NOT NULL,                 -- 'web_push' | 'apns' | 'fcm'
    identity    BLOB NOT NULL,                 -- SHA-256 of the endpoint or token: one row each
    data        TEXT NOT NULL,                 -- the subscription as registered (JSON)
    created_at  INTEGER NOT NULL,
    UNIQUE (device, identity)
) STRICT;
CREATE INDEX push_subscriptions_by_device ON push_subscriptions(device);

-- What the operator may need to account for: SMS sent to people who are not users (S1-F7).
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    actor       TEXT NOT NULL,                 -- the principal on whose behalf
    action      TEXT NOT NULL,                 -- e.g. 'sms_invitation'
    subject     TEXT NOT NULL,                 -- e.g. the number texted
    detail      TEXT NOT NULL DEFAULT ''
) STRICT;
