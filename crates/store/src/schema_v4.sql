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
