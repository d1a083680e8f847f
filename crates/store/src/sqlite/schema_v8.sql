-- callside schema, version 8: appending a message writes as few pages as possible.

-- A re-sent message is looked up with all three columns equal, so the index may lead with the
-- client's id. Time-ordered ids (what the SDK makes) then all land at the index's right edge: a
-- commit of messages from many sessions changes one index page, not one per session.
DROP INDEX messages_client_id;
CREATE UNIQUE INDEX messages_client_id ON messages(client_id, session, sender)
    WHERE client_id IS NOT NULL;

-- `sessions.last_seq` and `sessions.last_activity` are no longer moved by each message (that
-- changed one more page per session per commit): they hold their values from before this
-- version, and a session's newest message, found through the primary key, gives the current ones.
