-- callside on PostgreSQL, schema version 2: merchants (S4 click-to-call), the same tables as
-- SQLite's version 13. A merchant is a tenant whose web pages carry click-to-call buttons: its
-- own API account (a service principal), the secret its server signs buttons with, its buttons
-- (`merchant_links`), the pages an agent can push by code (`merchant_pages`), its routing rules
-- (JSON, `merchant_routing`), and the call record of every click on one of its buttons
-- (`merchant_clicks`, readable by that merchant only).
CREATE TABLE merchants (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    principal     TEXT NOT NULL UNIQUE REFERENCES principals(id),
    button_secret TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE merchant_links (
    merchant TEXT NOT NULL REFERENCES merchants(id),
    id       TEXT NOT NULL,
    name     TEXT NOT NULL,
    PRIMARY KEY (merchant, id)
);

CREATE TABLE merchant_pages (
    merchant TEXT NOT NULL REFERENCES merchants(id),
    code     TEXT NOT NULL,     -- DTMF-style, e.g. `*76`
    url      TEXT NOT NULL,
    PRIMARY KEY (merchant, code)
);

CREATE TABLE merchant_routing (
    merchant   TEXT PRIMARY KEY REFERENCES merchants(id),
    rules      TEXT NOT NULL,   -- JSON
    updated_at BIGINT NOT NULL
);

CREATE TABLE merchant_clicks (
    id                 TEXT PRIMARY KEY,
    merchant           TEXT NOT NULL REFERENCES merchants(id),
    link               TEXT,
    customer           TEXT,
    button_destination TEXT,
    context            TEXT NOT NULL,   -- JSON
    destination        TEXT NOT NULL,   -- `+1…`, `agents:<group>`
    rule               BIGINT,          -- the routing rule's position; none for the default
    state              TEXT NOT NULL,   -- `routed`, `answered`, `ended`
    agent              TEXT,
    outcome            TEXT,
    created_at         BIGINT NOT NULL,
    answered_at        BIGINT,
    ended_at           BIGINT
);

CREATE INDEX merchant_clicks_by_merchant ON merchant_clicks (merchant, created_at);
