-- The portal's administrators (docs/portal.md): users of the built-in admin tenant with a role and, for tenant
-- admins, their tenants (JSON list). Timestamps are Unix microseconds.
CREATE TABLE admin_members (
    user_id     TEXT    NOT NULL PRIMARY KEY,
    username    TEXT    NOT NULL,
    role        TEXT    NOT NULL CHECK (role IN ('global_admin', 'tenant_admin', 'read_only')),
    tenants     TEXT    NOT NULL,
    created_by  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;
