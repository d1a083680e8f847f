-- callside schema, version 10: what a participant who joined later may read. `joined_seq` is the
-- newest message before it joined (0: it reads from the start); `history` its word on showing
-- earlier messages to those who join after it ('share', 'withhold' or nothing). A blob reference
-- keeps the newest message that names the blob, so a joiner may read a file only if one it may
-- see names it.
ALTER TABLE participants ADD COLUMN joined_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE participants ADD COLUMN history TEXT;
ALTER TABLE blob_refs ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
