-- A visitor's web call (S4) opens a session when an agent answers: the click records it, so
-- the agent's console and the call window find it again, across restarts too.
ALTER TABLE merchant_clicks ADD COLUMN session TEXT;
