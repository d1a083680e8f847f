-- When each token was last presented (`Write::TokensUsed`, at most a few minutes late), for the
-- operator's report of unused tokens.
ALTER TABLE tokens ADD COLUMN last_used_at BIGINT;
