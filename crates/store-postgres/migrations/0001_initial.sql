-- Tessera store, PostgreSQL. Secrets (codes, tokens, session cookies, client secrets) are stored only as SHA-256
-- hashes. Every table is keyed by tenant first.

CREATE TABLE tenants (
    id            TEXT        NOT NULL PRIMARY KEY,
    display_name  TEXT        NOT NULL,
    rp_id         TEXT        NOT NULL,
    origins       TEXT[]      NOT NULL,
    policy        JSONB       NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE clients (
    tenant                        TEXT        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    client_id                     TEXT        NOT NULL,
    display_name                  TEXT        NOT NULL,
    secret_hash                   BYTEA,
    redirect_uris                 TEXT[]      NOT NULL,
    post_logout_redirect_uris     TEXT[]      NOT NULL,
    token_endpoint_auth_method    TEXT        NOT NULL,
    id_token_signed_response_alg  TEXT        NOT NULL,
    jwks                          JSONB,
    allowed_scopes                TEXT[]      NOT NULL,
    created_at                    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, client_id)
);

CREATE TABLE users (
    tenant           TEXT        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id               TEXT        NOT NULL,
    username         TEXT        NOT NULL,
    -- Unicode lowercase of username, computed by the store (not by the database's locale): the unique key.
    username_folded  TEXT        NOT NULL,
    display_name     TEXT        NOT NULL,
    email            TEXT,
    email_verified   BOOLEAN     NOT NULL,
    user_handle      BYTEA       NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, id),
    UNIQUE (tenant, username_folded),
    UNIQUE (tenant, user_handle)
);

CREATE TABLE credentials (
    tenant              TEXT        NOT NULL,
    credential_id       BYTEA       NOT NULL,
    user_id             TEXT        NOT NULL,
    public_key          BYTEA       NOT NULL,
    alg                 BIGINT      NOT NULL,
    sign_count          BIGINT      NOT NULL CHECK (sign_count BETWEEN 0 AND 4294967295),
    uv_initialized      BOOLEAN     NOT NULL,
    backup_eligible     BOOLEAN     NOT NULL,
    backup_state        BOOLEAN     NOT NULL,
    transports          TEXT[]      NOT NULL,
    aaguid              BYTEA       NOT NULL,
    attestation_format  TEXT        NOT NULL,
    nickname            TEXT        NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL,
    last_used_at        TIMESTAMPTZ,
    PRIMARY KEY (tenant, credential_id),
    FOREIGN KEY (tenant, user_id) REFERENCES users (tenant, id) ON DELETE CASCADE
);
CREATE INDEX credentials_by_user ON credentials (tenant, user_id);

CREATE TABLE ceremonies (
    tenant      TEXT        NOT NULL,
    id          TEXT        NOT NULL,
    kind        TEXT        NOT NULL,
    payload     BYTEA       NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX ceremonies_by_expiry ON ceremonies (expires_at);

CREATE TABLE auth_codes (
    tenant       TEXT        NOT NULL,
    code_hash    BYTEA       NOT NULL,
    client_id    TEXT        NOT NULL,
    grant_id     TEXT        NOT NULL,
    payload      BYTEA       NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    redeemed_at  TIMESTAMPTZ,
    PRIMARY KEY (tenant, code_hash)
);
CREATE INDEX auth_codes_by_expiry ON auth_codes (expires_at);

CREATE TABLE access_tokens (
    tenant      TEXT        NOT NULL,
    token_hash  BYTEA       NOT NULL,
    client_id   TEXT        NOT NULL,
    grant_id    TEXT        NOT NULL,
    user_id     TEXT        NOT NULL,
    scope       TEXT        NOT NULL,
    payload     BYTEA       NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, token_hash)
);
CREATE INDEX access_tokens_by_grant ON access_tokens (tenant, grant_id);
CREATE INDEX access_tokens_by_expiry ON access_tokens (expires_at);

CREATE TABLE refresh_tokens (
    tenant      TEXT        NOT NULL,
    token_hash  BYTEA       NOT NULL,
    client_id   TEXT        NOT NULL,
    grant_id    TEXT        NOT NULL,
    user_id     TEXT        NOT NULL,
    scope       TEXT        NOT NULL,
    payload     BYTEA       NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    -- Set when the token is exchanged for its successor; presenting it again is reuse.
    rotated_at  TIMESTAMPTZ,
    PRIMARY KEY (tenant, token_hash)
);
CREATE INDEX refresh_tokens_by_grant ON refresh_tokens (tenant, grant_id);
CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens (expires_at);

CREATE TABLE revoked_grants (
    tenant      TEXT        NOT NULL,
    grant_id    TEXT        NOT NULL,
    revoked_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, grant_id)
);
CREATE INDEX revoked_grants_by_time ON revoked_grants (revoked_at);

CREATE TABLE sessions (
    tenant      TEXT        NOT NULL,
    id_hash     BYTEA       NOT NULL,
    user_id     TEXT        NOT NULL,
    auth_time   TIMESTAMPTZ NOT NULL,
    amr         TEXT[]      NOT NULL,
    acr         TEXT        NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, id_hash)
);
CREATE INDEX sessions_by_user ON sessions (tenant, user_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

CREATE TABLE signing_keys (
    tenant                 TEXT        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    kid                    TEXT        NOT NULL,
    alg                    TEXT        NOT NULL,
    private_key_encrypted  BYTEA       NOT NULL,
    public_jwk             JSONB       NOT NULL,
    created_at             TIMESTAMPTZ NOT NULL,
    retired_at             TIMESTAMPTZ,
    status                 TEXT        NOT NULL CHECK (status IN ('pending', 'active', 'retired')),
    PRIMARY KEY (tenant, kid)
);
