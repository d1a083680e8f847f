-- Whether a reader of a blob uploaded it or was granted it (`Write::BlobGrant`: a composer
-- picture or card photo delivered to another device). Erasing a device's data removes the grants
-- of what it uploaded, not someone's own upload of the same bytes. Rows from before count as
-- uploads.
ALTER TABLE blob_uploaders ADD COLUMN granted BOOLEAN NOT NULL DEFAULT FALSE;
-- Collecting unreferenced blobs finds the oldest first, and asks whether a card's photo shows one.
CREATE INDEX blobs_created ON blobs (created_at);
CREATE INDEX card_fields_photo ON card_fields (value) WHERE kind = 'photo';
-- Work for the operator's transformers (derived data, S1-F1): one row per committed `app/<name>`
-- message whose app has a transformer, written in the message's own commit and deleted when its
-- derived data is appended (or given up), so the work survives a restart.
CREATE TABLE derived_jobs (
    session   TEXT NOT NULL,
    seq       BIGINT NOT NULL,
    app       TEXT NOT NULL,
    queued_at BIGINT NOT NULL,
    PRIMARY KEY (session, seq)
);
