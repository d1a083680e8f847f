-- Merchants' webhooks (S4): where callside posts the progress of their calls (created,
-- answered, ended), signed with the secret (HMAC-SHA256), for their CRMs.
CREATE TABLE merchant_webhooks (
    merchant   TEXT PRIMARY KEY REFERENCES merchants(id),
    url        TEXT NOT NULL,
    secret     TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
