-- Invitations of administrators (docs/portal.md), kept with the other admin tables so that a pending invitation
-- survives restarts until it is redeemed, withdrawn or expires (before, they were ceremonies, which SQLite keeps in
-- the server's memory). Only the SHA-256 of the link's secret is stored. Timestamps are Unix microseconds.
CREATE TABLE admin_invitations (
    id          TEXT    NOT NULL PRIMARY KEY,
    token_hash  BLOB    NOT NULL UNIQUE,
    role        TEXT    NOT NULL CHECK (role IN ('global_admin', 'tenant_admin', 'read_only')),
    tenants     TEXT    NOT NULL,
    created_by  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX admin_invitations_by_creation ON admin_invitations (created_at, id);
CREATE INDEX admin_invitations_by_expiry ON admin_invitations (expires_at);
