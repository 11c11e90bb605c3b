-- Invitations of administrators (docs/portal.md), kept with the other admin tables so that a pending invitation
-- survives restarts and crashes until it is redeemed, withdrawn or expires (before, they were ceremonies, in the
-- UNLOGGED table of 0003). Only the SHA-256 of the link's secret is stored.
CREATE TABLE admin_invitations (
    id          TEXT        NOT NULL PRIMARY KEY,
    token_hash  BYTEA       NOT NULL UNIQUE,
    role        TEXT        NOT NULL CHECK (role IN ('global_admin', 'tenant_admin', 'read_only')),
    tenants     JSONB       NOT NULL,
    created_by  TEXT        NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX admin_invitations_by_creation ON admin_invitations (created_at, id);
CREATE INDEX admin_invitations_by_expiry ON admin_invitations (expires_at);

-- The invitations pending as ceremonies move here, so that an upgrade keeps them: the ceremony's id is the hex
-- SHA-256 of the secret, its payload the JSON of what the invitation grants (`created_at` in Unix seconds, absent in
-- the oldest ones, which then count as made now).
INSERT INTO admin_invitations (id, token_hash, role, tenants, created_by, created_at, expires_at)
SELECT invitation->>'id', decode(c.id, 'hex'), invitation->>'role', invitation->'tenants',
       invitation->>'created_by', COALESCE(to_timestamp((invitation->>'created_at')::bigint), now()), c.expires_at
FROM ceremonies c
CROSS JOIN LATERAL (SELECT convert_from(c.payload, 'UTF8')::jsonb AS invitation) parsed
WHERE c.tenant = 'tessera-admin' AND c.kind = 'admin.invitation' AND c.expires_at > now()
ON CONFLICT DO NOTHING;
DELETE FROM ceremonies WHERE tenant = 'tessera-admin' AND kind = 'admin.invitation';
