-- Retention (`Write::Purge`): each purge takes the oldest records of a kind, so each kind's
-- time is indexed; without these a purge read the whole table every sweep.
CREATE INDEX legs_settled_by_time ON legs(reported_at) WHERE state != 'pending';
CREATE INDEX calls_ended_by_time ON calls(created_at) WHERE state = 'ended';
CREATE INDEX call_notes_by_time ON call_notes(created_at);
CREATE INDEX audit_log_by_time ON audit_log(at);
CREATE INDEX merchant_clicks_by_time ON merchant_clicks(created_at);
