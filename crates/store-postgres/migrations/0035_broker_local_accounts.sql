-- Local accounts of the identity broker: passkeys registered with the broker itself (the broker as WebAuthn relying
-- party), and the per-key counters that limit how often one-time codes are sent.

-- A local account's passkey, found by its credential id (a discoverable sign-in sends no username); the user handle
-- sent at registration is kept to check the assertion's `userHandle`. Deleted with its user.
CREATE TABLE broker_local_credentials (
    tenant          TEXT        NOT NULL,
    credential_id   BYTEA       NOT NULL,
    object_id       TEXT        NOT NULL,
    user_handle     BYTEA       NOT NULL,
    public_key      BYTEA       NOT NULL,
    alg             BIGINT      NOT NULL,
    sign_count      BIGINT      NOT NULL,
    uv_initialized  BOOLEAN     NOT NULL,
    backup_eligible BOOLEAN     NOT NULL,
    backup_state    BOOLEAN     NOT NULL,
    transports      JSONB       NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    last_used_at    TIMESTAMPTZ,
    PRIMARY KEY (tenant, credential_id),
    FOREIGN KEY (tenant, object_id) REFERENCES directory_users (tenant, object_id) ON DELETE CASCADE
);
CREATE INDEX broker_local_credentials_by_user ON broker_local_credentials (tenant, object_id);

-- How many one-time codes were sent for a key (the hash of an email address or a client address) in the window that
-- started at `window_start`; the row is purged once the window is over.
CREATE TABLE broker_code_sends (
    tenant        TEXT        NOT NULL,
    key_hash      BYTEA       NOT NULL,
    window_start  TIMESTAMPTZ NOT NULL,
    sent          BIGINT      NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, key_hash)
);
CREATE INDEX broker_code_sends_by_expiry ON broker_code_sends (expires_at);
