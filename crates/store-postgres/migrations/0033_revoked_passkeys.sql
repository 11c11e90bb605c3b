-- A passkey's grants are revoked lazily (issue 12): no bond row per grant. Each code and token row carries its grant's
-- passkey and when the grant was issued; revoking a passkey (deleting it, disabling or deleting its user) records it in
-- `revoked_passkeys`, and a code or token whose passkey was revoked at or after its grant is refused when used.
ALTER TABLE auth_codes ADD COLUMN credential_id BYTEA, ADD COLUMN granted_at TIMESTAMPTZ;
ALTER TABLE access_tokens ADD COLUMN credential_id BYTEA, ADD COLUMN granted_at TIMESTAMPTZ;
ALTER TABLE refresh_tokens ADD COLUMN credential_id BYTEA, ADD COLUMN granted_at TIMESTAMPTZ;

CREATE TABLE revoked_passkeys (
    tenant         TEXT        NOT NULL,
    credential_id  BYTEA       NOT NULL,
    -- The latest revocation: grants issued at or before it are revoked.
    revoked_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, credential_id)
);

-- The bonds of live grants move onto their rows. When those grants were issued is not known: the epoch, so that any
-- later revocation of the passkey revokes them.
UPDATE auth_codes t SET credential_id = g.credential_id, granted_at = 'epoch'
    FROM grant_credentials g WHERE g.tenant = t.tenant AND g.grant_id = t.grant_id;
UPDATE access_tokens t SET credential_id = g.credential_id, granted_at = 'epoch'
    FROM grant_credentials g WHERE g.tenant = t.tenant AND g.grant_id = t.grant_id;
UPDATE refresh_tokens t SET credential_id = g.credential_id, granted_at = 'epoch'
    FROM grant_credentials g WHERE g.tenant = t.tenant AND g.grant_id = t.grant_id;
DROP TABLE grant_credentials;
