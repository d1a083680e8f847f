-- callside schema, version 3: invitations (S2-I, S2-M, S1-F2).

CREATE TABLE invitations (
    id          TEXT PRIMARY KEY,
    inviter     TEXT NOT NULL,
    inviter_name TEXT NOT NULL,
    from_number TEXT,
    invitee     TEXT NOT NULL,                 -- the number invited (E.164)
    session     TEXT,
    leg         TEXT,                          -- the one-sided call's pending leg (S1-F2)
    via_sms     INTEGER NOT NULL DEFAULT 0,    -- told by SMS with a link (S1-F7)
    state       TEXT NOT NULL,                 -- 'pending' | 'accepted' | 'declined' | 'cancelled' | 'expired'
    answered_by TEXT,
    offer       TEXT,                          -- the inviter's connection data (JSON)
    answer      TEXT,                          -- the accepting device's connection data (JSON)
    path        TEXT,                          -- 'direct' | 'relay', once accepted
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX invitations_pending ON invitations(expires_at) WHERE state = 'pending';
CREATE INDEX invitations_pending_by_invitee ON invitations(invitee) WHERE state = 'pending';

-- The invitee's devices that were told, in the order they were found.
CREATE TABLE invitation_devices (
    invitation  TEXT NOT NULL REFERENCES invitations(id),
    device      TEXT NOT NULL,
    PRIMARY KEY (invitation, device)
) STRICT;
CREATE INDEX invitation_devices_by_device ON invitation_devices(device);
