-- Ceremonies now live in the server's memory (SQLite is single-node): see src/ephemeral.rs.
DROP TABLE ceremonies;

-- Codes, sessions and tokens are looked up by their hash only: cluster each table on its primary key (WITHOUT ROWID), so
-- that storing one writes one b-tree fewer (no separate rowid table beside the key index).
CREATE TABLE sessions_clustered (
    tenant               TEXT    NOT NULL,
    id_hash              BLOB    NOT NULL,
    user_id              TEXT    NOT NULL,
    auth_time            INTEGER NOT NULL,
    expires_at           INTEGER NOT NULL,
    sid                  TEXT    NOT NULL,
    user_verified        INTEGER NOT NULL,
    backup_eligible      INTEGER NOT NULL,
    attestation_trusted  INTEGER NOT NULL,
    PRIMARY KEY (tenant, id_hash)
) STRICT, WITHOUT ROWID;
INSERT INTO sessions_clustered (tenant, id_hash, user_id, auth_time, expires_at, sid, user_verified,
                                backup_eligible, attestation_trusted)
    SELECT tenant, id_hash, user_id, auth_time, expires_at, sid, user_verified, backup_eligible, attestation_trusted
    FROM sessions;
DROP TABLE sessions;
ALTER TABLE sessions_clustered RENAME TO sessions;
CREATE INDEX sessions_by_user ON sessions (tenant, user_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
CREATE UNIQUE INDEX sessions_by_sid ON sessions (tenant, sid);

CREATE TABLE access_tokens_clustered (
    tenant      TEXT    NOT NULL,
    token_hash  BLOB    NOT NULL,
    client_id   TEXT    NOT NULL,
    grant_id    TEXT    NOT NULL,
    user_id     TEXT    NOT NULL,
    scope       TEXT    NOT NULL,
    payload     BLOB    NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant, token_hash)
) STRICT, WITHOUT ROWID;
INSERT INTO access_tokens_clustered SELECT tenant, token_hash, client_id, grant_id, user_id, scope, payload, expires_at
    FROM access_tokens;
DROP TABLE access_tokens;
ALTER TABLE access_tokens_clustered RENAME TO access_tokens;
CREATE INDEX access_tokens_by_grant ON access_tokens (tenant, grant_id);
CREATE INDEX access_tokens_by_expiry ON access_tokens (expires_at);

CREATE TABLE refresh_tokens_clustered (
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
) STRICT, WITHOUT ROWID;
INSERT INTO refresh_tokens_clustered SELECT tenant, token_hash, client_id, grant_id, user_id, scope, payload,
    expires_at, rotated_at FROM refresh_tokens;
DROP TABLE refresh_tokens;
ALTER TABLE refresh_tokens_clustered RENAME TO refresh_tokens;
CREATE INDEX refresh_tokens_by_grant ON refresh_tokens (tenant, grant_id);
CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens (expires_at);

CREATE TABLE auth_codes_clustered (
    tenant       TEXT    NOT NULL,
    code_hash    BLOB    NOT NULL,
    client_id    TEXT    NOT NULL,
    grant_id     TEXT    NOT NULL,
    payload      BLOB    NOT NULL,
    expires_at   INTEGER NOT NULL,
    redeemed_at  INTEGER,
    PRIMARY KEY (tenant, code_hash)
) STRICT, WITHOUT ROWID;
INSERT INTO auth_codes_clustered SELECT tenant, code_hash, client_id, grant_id, payload, expires_at, redeemed_at
    FROM auth_codes;
DROP TABLE auth_codes;
ALTER TABLE auth_codes_clustered RENAME TO auth_codes;
CREATE INDEX auth_codes_by_expiry ON auth_codes (expires_at);
