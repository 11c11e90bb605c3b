-- The admin surfaces (docs/admin-api.md): API tokens (only the SHA-256 of the secret), the one-time bootstrap token
-- (at most one row), and the audit trail. Timestamps are Unix microseconds.
CREATE TABLE admin_api_tokens (
    id            TEXT    NOT NULL PRIMARY KEY,
    token_hash    BLOB    NOT NULL UNIQUE,
    name          TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    tenants       TEXT    NOT NULL,
    created_by    TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    revoked_at    INTEGER,
    last_used_at  INTEGER
) STRICT;

CREATE TABLE admin_bootstrap (
    id          INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    token_hash  BLOB    NOT NULL,
    expires_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE admin_audit_events (
    id              TEXT    NOT NULL PRIMARY KEY,
    at              INTEGER NOT NULL,
    actor           TEXT    NOT NULL,
    action          TEXT    NOT NULL,
    target          TEXT    NOT NULL,
    tenant          TEXT,
    before_json     TEXT,
    after_json      TEXT,
    request_id      TEXT,
    client_address  TEXT
) STRICT;
CREATE INDEX admin_audit_events_tenant ON admin_audit_events (tenant, id);
