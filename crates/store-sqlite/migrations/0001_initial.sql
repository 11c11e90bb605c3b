-- Tessera store, SQLite. Timestamps are INTEGER unix microseconds (UTC); lists and JSON values are TEXT holding JSON.
-- Secrets (codes, tokens, session cookies, client secrets) are stored only as SHA-256 hashes.

CREATE TABLE tenants (
    id              TEXT    NOT NULL PRIMARY KEY,
    display_name    TEXT    NOT NULL,
    rp_id           TEXT    NOT NULL,
    origins         TEXT    NOT NULL,
    policy          TEXT    NOT NULL,
    created_at      INTEGER NOT NULL
) STRICT;

CREATE TABLE clients (
    tenant                        TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    client_id                     TEXT    NOT NULL,
    display_name                  TEXT    NOT NULL,
    secret_hash                   BLOB,
    redirect_uris                 TEXT    NOT NULL,
    post_logout_redirect_uris     TEXT    NOT NULL,
    token_endpoint_auth_method    TEXT    NOT NULL,
    id_token_signed_response_alg  TEXT    NOT NULL,
    jwks                          TEXT,
    allowed_scopes                TEXT    NOT NULL,
    created_at                    INTEGER NOT NULL,
    PRIMARY KEY (tenant, client_id)
) STRICT;

CREATE TABLE users (
    tenant           TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id               TEXT    NOT NULL,
    username         TEXT    NOT NULL,
    -- Unicode lowercase of username, computed by the store: the unique, case-insensitive key.
    username_folded  TEXT    NOT NULL,
    display_name     TEXT    NOT NULL,
    email            TEXT,
    email_verified   INTEGER NOT NULL,
    user_handle      BLOB    NOT NULL,
    created_at       INTEGER NOT NULL,
    PRIMARY KEY (tenant, id),
    UNIQUE (tenant, username_folded),
    UNIQUE (tenant, user_handle)
) STRICT;

CREATE TABLE credentials (
    tenant              TEXT    NOT NULL,
    credential_id       BLOB    NOT NULL,
    user_id             TEXT    NOT NULL,
    public_key          BLOB    NOT NULL,
    alg                 INTEGER NOT NULL,
    sign_count          INTEGER NOT NULL CHECK (sign_count BETWEEN 0 AND 4294967295),
    uv_initialized      INTEGER NOT NULL,
    backup_eligible     INTEGER NOT NULL,
    backup_state        INTEGER NOT NULL,
    transports          TEXT    NOT NULL,
    aaguid              BLOB    NOT NULL,
    attestation_format  TEXT    NOT NULL,
    nickname            TEXT    NOT NULL,
    created_at          INTEGER NOT NULL,
    last_used_at        INTEGER,
    PRIMARY KEY (tenant, credential_id),
    FOREIGN KEY (tenant, user_id) REFERENCES users (tenant, id) ON DELETE CASCADE
) STRICT;
CREATE INDEX credentials_by_user ON credentials (tenant, user_id);

CREATE TABLE ceremonies (
    tenant      TEXT    NOT NULL,
    id          TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    payload     BLOB    NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant, id)
) STRICT;
CREATE INDEX ceremonies_by_expiry ON ceremonies (expires_at);

CREATE TABLE auth_codes (
    tenant       TEXT    NOT NULL,
    code_hash    BLOB    NOT NULL,
    client_id    TEXT    NOT NULL,
    grant_id     TEXT    NOT NULL,
    payload      BLOB    NOT NULL,
    expires_at   INTEGER NOT NULL,
    redeemed_at  INTEGER,
    PRIMARY KEY (tenant, code_hash)
) STRICT;
CREATE INDEX auth_codes_by_expiry ON auth_codes (expires_at);

CREATE TABLE access_tokens (
    tenant      TEXT    NOT NULL,
    token_hash  BLOB    NOT NULL,
    client_id   TEXT    NOT NULL,
    grant_id    TEXT    NOT NULL,
    user_id     TEXT    NOT NULL,
    scope       TEXT    NOT NULL,
    payload     BLOB    NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant, token_hash)
) STRICT;
CREATE INDEX access_tokens_by_grant ON access_tokens (tenant, grant_id);
CREATE INDEX access_tokens_by_expiry ON access_tokens (expires_at);

CREATE TABLE refresh_tokens (
    tenant      TEXT    NOT NULL,
    token_hash  BLOB    NOT NULL,
    client_id   TEXT    NOT NULL,
    grant_id    TEXT    NOT NULL,
    user_id     TEXT    NOT NULL,
    scope       TEXT    NOT NULL,
    payload     BLOB    NOT NULL,
    expires_at  INTEGER NOT NULL,
    -- Set when the token is exchanged for its successor; presenting it again is reuse.
    rotated_at  INTEGER,
    PRIMARY KEY (tenant, token_hash)
) STRICT;
CREATE INDEX refresh_tokens_by_grant ON refresh_tokens (tenant, grant_id);
CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens (expires_at);

CREATE TABLE revoked_grants (
    tenant      TEXT    NOT NULL,
    grant_id    TEXT    NOT NULL,
    revoked_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant, grant_id)
) STRICT;
CREATE INDEX revoked_grants_by_time ON revoked_grants (revoked_at);

CREATE TABLE sessions (
    tenant      TEXT    NOT NULL,
    id_hash     BLOB    NOT NULL,
    user_id     TEXT    NOT NULL,
    auth_time   INTEGER NOT NULL,
    amr         TEXT    NOT NULL,
    acr         TEXT    NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant, id_hash)
) STRICT;
CREATE INDEX sessions_by_user ON sessions (tenant, user_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

CREATE TABLE signing_keys (
    tenant                 TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    kid                    TEXT    NOT NULL,
    alg                    TEXT    NOT NULL,
    private_key_encrypted  BLOB    NOT NULL,
    public_jwk             TEXT    NOT NULL,
    created_at             INTEGER NOT NULL,
    retired_at             INTEGER,
    status                 TEXT    NOT NULL CHECK (status IN ('pending', 'active', 'retired')),
    PRIMARY KEY (tenant, kid)
) STRICT;
