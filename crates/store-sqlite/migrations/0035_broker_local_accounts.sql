-- Local accounts of the identity broker: passkeys registered with the broker itself (the broker as WebAuthn relying
-- party), and the per-key counters that limit how often one-time codes are sent.

-- A local account's passkey, found by its credential id (a discoverable sign-in sends no username); the user handle
-- sent at registration is kept to check the assertion's `userHandle`. Deleted with its user.
CREATE TABLE broker_local_credentials (
    tenant          TEXT    NOT NULL,
    credential_id   BLOB    NOT NULL,
    object_id       TEXT    NOT NULL,
    user_handle     BLOB    NOT NULL,
    public_key      BLOB    NOT NULL,
    alg             INTEGER NOT NULL,
    sign_count      INTEGER NOT NULL,
    uv_initialized  INTEGER NOT NULL,
    backup_eligible INTEGER NOT NULL,
    backup_state    INTEGER NOT NULL,
    -- JSON array of transport names.
    transports      TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    last_used_at    INTEGER,
    PRIMARY KEY (tenant, credential_id),
    FOREIGN KEY (tenant, object_id) REFERENCES directory_users (tenant, object_id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
CREATE INDEX broker_local_credentials_by_user ON broker_local_credentials (tenant, object_id);

-- How many one-time codes were sent for a key (the hash of an email address or a client address) in the window that
-- started at `window_start`; the row is purged once the window is over.
CREATE TABLE broker_code_sends (
    tenant        TEXT    NOT NULL,
    key_hash      BLOB    NOT NULL,
    window_start  INTEGER NOT NULL,
    sent          INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    PRIMARY KEY (tenant, key_hash)
) STRICT, WITHOUT ROWID;
CREATE INDEX broker_code_sends_by_expiry ON broker_code_sends (expires_at);
