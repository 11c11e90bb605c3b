-- Per-tenant settings beside the authenticator policy (session lifetimes, account-enumeration protection), as JSON
-- the service reads with its defaults; `{}` is every default.
ALTER TABLE tenants ADD COLUMN settings JSONB NOT NULL DEFAULT '{}';
