-- An authenticator-service user an operator disabled (Unix microseconds; NULL: active). A disabled user cannot
-- sign in; disabling ends their sessions and revokes their grants in the same transaction.
ALTER TABLE users ADD COLUMN disabled_at INTEGER;
