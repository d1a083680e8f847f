-- A visitor's web call (S4) opens a session when an agent answers: the click records it, so
-- the agent's console and the call window find it again, across restarts too.
ALTER TABLE merchant_clicks ADD COLUMN session TEXT;

-- The calls the call centre reads back after a restart now include those in progress.
DROP INDEX merchant_clicks_waiting;
CREATE INDEX merchant_clicks_open ON merchant_clicks (created_at)
    WHERE state IN ('queued', 'ringing', 'answered');

-- Supervisors are agents who also see the whole call centre.
ALTER TABLE merchant_agents ADD COLUMN supervisor BOOLEAN NOT NULL DEFAULT FALSE;

-- A call to a number shows a short channel id; an agent keys it to join the call's chat.
ALTER TABLE merchant_clicks ADD COLUMN channel TEXT;
CREATE INDEX merchant_clicks_channel ON merchant_clicks (merchant, channel, created_at)
    WHERE channel IS NOT NULL;
