-- Agents of merchants' call centres (S4's ACD): each has its own API account (a service
-- principal with the `agent` scope) and takes calls of the groups listed (JSON array of group
-- names). Queued and ringing calls are found again after a restart by their state.
CREATE TABLE merchant_agents (
    merchant   TEXT NOT NULL REFERENCES merchants(id),
    id         TEXT NOT NULL,
    principal  TEXT NOT NULL UNIQUE REFERENCES principals(id),
    name       TEXT NOT NULL,
    groups     TEXT NOT NULL,   -- JSON array
    created_at INTEGER NOT NULL,
    PRIMARY KEY (merchant, id)
) STRICT, WITHOUT ROWID;

CREATE INDEX merchant_clicks_waiting ON merchant_clicks (created_at)
    WHERE state IN ('queued', 'ringing');
