-- callside schema, version 11: the screens automated systems sent (S1-F11–F21), so an
-- acknowledgement or a region's activation can be checked against what was offered. A screen sent
-- again under the same id replaces the row.
CREATE TABLE screens (
    session TEXT NOT NULL REFERENCES sessions(key),
    id      TEXT NOT NULL,
    sender  TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    regions TEXT NOT NULL,        -- region ids, one per line
    PRIMARY KEY (session, id)
) WITHOUT ROWID;
