-- callside schema, version 6: cards (S3 pre-configured user data), audiences and the delivery
-- ledger.

CREATE TABLE card_fields (
    principal   TEXT NOT NULL REFERENCES principals(id),
    id          TEXT NOT NULL,
    position    INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    value       TEXT NOT NULL,                 -- text; an address's five parts joined by U+001F
    label       TEXT,
    version     INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (principal, id)
) STRICT;

CREATE TABLE audiences (
    principal   TEXT NOT NULL REFERENCES principals(id),
    name        TEXT NOT NULL,
    position    INTEGER NOT NULL,
    members     TEXT NOT NULL,                 -- comma-separated E.164 prefixes
    fields      TEXT NOT NULL,                 -- comma-separated field kinds
    PRIMARY KEY (principal, name)
) STRICT;

-- Which version of which field of whose card each device has received (S3-F11).
CREATE TABLE card_ledger (
    sender      TEXT NOT NULL,
    receiver    TEXT NOT NULL,
    field       TEXT NOT NULL,
    version     INTEGER NOT NULL,
    delivered_at INTEGER NOT NULL,
    PRIMARY KEY (sender, receiver, field)
) STRICT, WITHOUT ROWID;

-- Call composer data and post-call notes (RCC.20), addressed to a number's devices.
CREATE TABLE call_notes (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,                 -- 'composer' | 'note'
    leg         TEXT NOT NULL,
    sender      TEXT NOT NULL,
    sender_name TEXT NOT NULL,
    from_number TEXT NOT NULL,
    to_number   TEXT NOT NULL,
    body        TEXT NOT NULL,                 -- the composer or note (JSON)
    created_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX call_notes_by_to ON call_notes(to_number, created_at);

-- Receiving policies for cards (S3-F17): per receiving device, a default and per-contact rules.
CREATE TABLE card_policies (
    principal   TEXT PRIMARY KEY REFERENCES principals(id),
    default_mode TEXT NOT NULL                 -- 'accept' | 'known_only'
) STRICT;
CREATE TABLE card_policy_contacts (
    principal   TEXT NOT NULL REFERENCES principals(id),
    number      TEXT NOT NULL,
    policy      TEXT NOT NULL,                 -- 'block' | 'once' | 'always'
    PRIMARY KEY (principal, number)
) STRICT;
