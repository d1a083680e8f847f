-- Whether a reader of a blob uploaded it or was granted it (`Write::BlobGrant`: a composer
-- picture or card photo delivered to another device). Erasing a device's data removes the grants
-- of what it uploaded, not someone's own upload of the same bytes. Rows from before count as
-- uploads.
ALTER TABLE blob_uploaders ADD COLUMN granted INTEGER NOT NULL DEFAULT 0;
