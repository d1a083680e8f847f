-- callside schema, version 9: since when a device owns each number. A binding refreshed by proving
-- the number again keeps it; what was addressed to the number before belongs to its earlier holder.
ALTER TABLE numbers ADD COLUMN owned_since INTEGER NOT NULL DEFAULT 0;
UPDATE numbers SET owned_since = bound_at;
