-- The identity broker (docs/broker.md "Store records"). Broker tenants are their own namespace: no table here refers
-- to `tenants`, and every key begins with the broker tenant. Timestamps are INTEGER unix microseconds; JSON is TEXT.
-- Secrets (client secrets, codes, tokens, session cookies, states) are stored only as SHA-256 hashes; the providers'
-- client secrets and the signing keys are stored encrypted by the caller under the master key.

CREATE TABLE broker_tenants (
    id            TEXT    NOT NULL PRIMARY KEY,
    display_name  TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE broker_signing_keys (
    tenant                 TEXT    NOT NULL REFERENCES broker_tenants (id) ON DELETE CASCADE,
    kid                    TEXT    NOT NULL,
    alg                    TEXT    NOT NULL,
    private_key_encrypted  BLOB    NOT NULL,
    public_jwk             TEXT    NOT NULL,
    created_at             INTEGER NOT NULL,
    retired_at             INTEGER,
    status                 TEXT    NOT NULL CHECK (status IN ('pending', 'active', 'retired')),
    PRIMARY KEY (tenant, kid)
) STRICT;

CREATE TABLE broker_applications (
    tenant       TEXT    NOT NULL REFERENCES broker_tenants (id) ON DELETE CASCADE,
    client_id    TEXT    NOT NULL,
    secret_hash  BLOB,
    settings     TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (tenant, client_id)
) STRICT;

CREATE TABLE identity_providers (
    tenant                   TEXT    NOT NULL REFERENCES broker_tenants (id) ON DELETE CASCADE,
    provider_id              TEXT    NOT NULL,
    config                   TEXT    NOT NULL,
    client_secret_encrypted  BLOB,
    metadata                 TEXT    NOT NULL,
    metadata_fetched_at      INTEGER NOT NULL,
    jwks                     TEXT    NOT NULL,
    jwks_fetched_at          INTEGER NOT NULL,
    created_at               INTEGER NOT NULL,
    updated_at               INTEGER NOT NULL,
    PRIMARY KEY (tenant, provider_id)
) STRICT;

CREATE TABLE user_flows (
    tenant      TEXT    NOT NULL REFERENCES broker_tenants (id) ON DELETE CASCADE,
    -- The policy id in Unicode lowercase, computed by the store.
    policy_key  TEXT    NOT NULL,
    policy_id   TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant, policy_key)
) STRICT;

-- Append-only: rows are inserted, never updated; the key makes two saves of one number conflict.
CREATE TABLE user_flow_versions (
    tenant      TEXT    NOT NULL,
    policy_key  TEXT    NOT NULL,
    number      INTEGER NOT NULL CHECK (number BETWEEN 1 AND 4294967295),
    created_at  INTEGER NOT NULL,
    settings    TEXT    NOT NULL,
    PRIMARY KEY (tenant, policy_key, number),
    FOREIGN KEY (tenant, policy_key) REFERENCES user_flows (tenant, policy_key) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

CREATE TABLE broker_transactions (
    tenant      TEXT    NOT NULL,
    state_hash  BLOB    NOT NULL,
    payload     BLOB    NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant, state_hash)
) STRICT, WITHOUT ROWID;
CREATE INDEX broker_transactions_by_expiry ON broker_transactions (expires_at);

CREATE TABLE pending_signups (
    tenant       TEXT    NOT NULL,
    handle_hash  BLOB    NOT NULL,
    payload      BLOB    NOT NULL,
    expires_at   INTEGER NOT NULL,
    PRIMARY KEY (tenant, handle_hash)
) STRICT, WITHOUT ROWID;
CREATE INDEX pending_signups_by_expiry ON pending_signups (expires_at);

CREATE TABLE directory_users (
    tenant               TEXT    NOT NULL REFERENCES broker_tenants (id) ON DELETE CASCADE,
    object_id            TEXT    NOT NULL,
    display_name         TEXT,
    given_name           TEXT,
    surname              TEXT,
    email                TEXT,
    -- Unicode lowercase of the four values above, computed by the store, for prefix search.
    display_name_folded  TEXT,
    given_name_folded    TEXT,
    surname_folded       TEXT,
    email_folded         TEXT,
    custom               TEXT    NOT NULL,
    created_at           INTEGER NOT NULL,
    last_sign_in_at      INTEGER,
    disabled_at          INTEGER,
    PRIMARY KEY (tenant, object_id)
) STRICT;
CREATE INDEX directory_users_by_email ON directory_users (tenant, email_folded);
CREATE INDEX directory_users_by_display_name ON directory_users (tenant, display_name_folded);

-- A returning user is found by (issuer, subject), never by email; one identity signs in as one user.
CREATE TABLE directory_identities (
    tenant     TEXT    NOT NULL,
    issuer     TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    object_id  TEXT    NOT NULL,
    PRIMARY KEY (tenant, issuer, subject),
    FOREIGN KEY (tenant, object_id) REFERENCES directory_users (tenant, object_id) ON DELETE CASCADE
) STRICT;
CREATE INDEX directory_identities_by_user ON directory_identities (tenant, object_id);

CREATE TABLE broker_sessions (
    tenant      TEXT    NOT NULL,
    id_hash     BLOB    NOT NULL,
    sid         TEXT    NOT NULL,
    object_id   TEXT    NOT NULL,
    auth_time   INTEGER NOT NULL,
    payload     BLOB    NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant, id_hash),
    FOREIGN KEY (tenant, object_id) REFERENCES directory_users (tenant, object_id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
CREATE UNIQUE INDEX broker_sessions_by_sid ON broker_sessions (tenant, sid);
CREATE INDEX broker_sessions_by_user ON broker_sessions (tenant, object_id);
CREATE INDEX broker_sessions_by_expiry ON broker_sessions (expires_at);

CREATE TABLE broker_auth_codes (
    tenant       TEXT    NOT NULL,
    code_hash    BLOB    NOT NULL,
    client_id    TEXT    NOT NULL,
    grant_id     TEXT    NOT NULL,
    payload      BLOB    NOT NULL,
    expires_at   INTEGER NOT NULL,
    redeemed_at  INTEGER,
    PRIMARY KEY (tenant, code_hash)
) STRICT, WITHOUT ROWID;
CREATE INDEX broker_auth_codes_by_expiry ON broker_auth_codes (expires_at);

CREATE TABLE broker_refresh_tokens (
    tenant      TEXT    NOT NULL,
    token_hash  BLOB    NOT NULL,
    client_id   TEXT    NOT NULL,
    grant_id    TEXT    NOT NULL,
    object_id   TEXT    NOT NULL,
    scope       TEXT    NOT NULL,
    payload     BLOB    NOT NULL,
    expires_at  INTEGER NOT NULL,
    -- Set when the token is exchanged for its successor; presenting it again is reuse.
    rotated_at  INTEGER,
    PRIMARY KEY (tenant, token_hash),
    FOREIGN KEY (tenant, object_id) REFERENCES directory_users (tenant, object_id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
CREATE INDEX broker_refresh_tokens_by_grant ON broker_refresh_tokens (tenant, grant_id);
CREATE INDEX broker_refresh_tokens_by_user ON broker_refresh_tokens (tenant, object_id);
CREATE INDEX broker_refresh_tokens_by_expiry ON broker_refresh_tokens (expires_at);

CREATE TABLE broker_revoked_grants (
    tenant      TEXT    NOT NULL,
    grant_id    TEXT    NOT NULL,
    revoked_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant, grant_id)
) STRICT;
CREATE INDEX broker_revoked_grants_by_time ON broker_revoked_grants (revoked_at);
