-- The admin surfaces (docs/admin-api.md): API tokens (only the SHA-256 of the secret), the one-time bootstrap token
-- (at most one row), and the audit trail.
CREATE TABLE admin_api_tokens (
    id            TEXT        NOT NULL PRIMARY KEY,
    token_hash    BYTEA       NOT NULL UNIQUE,
    name          TEXT        NOT NULL,
    role          TEXT        NOT NULL,
    tenants       JSONB       NOT NULL,
    created_by    TEXT        NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL,
    revoked_at    TIMESTAMPTZ,
    last_used_at  TIMESTAMPTZ
);

CREATE TABLE admin_bootstrap (
    id          INTEGER     NOT NULL PRIMARY KEY CHECK (id = 1),
    token_hash  BYTEA       NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE admin_audit_events (
    id              TEXT        NOT NULL PRIMARY KEY,
    at              TIMESTAMPTZ NOT NULL,
    actor           TEXT        NOT NULL,
    action          TEXT        NOT NULL,
    target          TEXT        NOT NULL,
    tenant          TEXT,
    before_json     JSONB,
    after_json      JSONB,
    request_id      TEXT,
    client_address  TEXT
);
CREATE INDEX admin_audit_events_tenant ON admin_audit_events (tenant, id);
