-- A passkey's grants are revoked lazily (issue 12): no bond row per grant. Each code and token row carries its grant's
-- passkey and when the grant was issued; revoking a passkey (deleting it, disabling or deleting its user) records it in
-- `revoked_passkeys`, and a code or token whose passkey was revoked at or after its grant is refused when used.
ALTER TABLE auth_codes ADD COLUMN credential_id BLOB;
ALTER TABLE auth_codes ADD COLUMN granted_at INTEGER;
ALTER TABLE access_tokens ADD COLUMN credential_id BLOB;
ALTER TABLE access_tokens ADD COLUMN granted_at INTEGER;
ALTER TABLE refresh_tokens ADD COLUMN credential_id BLOB;
ALTER TABLE refresh_tokens ADD COLUMN granted_at INTEGER;

CREATE TABLE revoked_passkeys (
    tenant         TEXT    NOT NULL,
    credential_id  BLOB    NOT NULL,
    -- The latest revocation: grants issued at or before it are revoked.
    revoked_at     INTEGER NOT NULL,
    PRIMARY KEY (tenant, credential_id)
) STRICT, WITHOUT ROWID;

-- The bonds of live grants move onto their rows. When those grants were issued is not known: the epoch, so that any
-- later revocation of the passkey revokes them.
CREATE INDEX grant_credentials_by_grant ON grant_credentials (tenant, grant_id);
UPDATE auth_codes SET
    credential_id = (SELECT g.credential_id FROM grant_credentials g
                     WHERE g.tenant = auth_codes.tenant AND g.grant_id = auth_codes.grant_id),
    granted_at = 0
    WHERE EXISTS (SELECT 1 FROM grant_credentials g
                  WHERE g.tenant = auth_codes.tenant AND g.grant_id = auth_codes.grant_id);
UPDATE access_tokens SET
    credential_id = (SELECT g.credential_id FROM grant_credentials g
                     WHERE g.tenant = access_tokens.tenant AND g.grant_id = access_tokens.grant_id),
    granted_at = 0
    WHERE EXISTS (SELECT 1 FROM grant_credentials g
                  WHERE g.tenant = access_tokens.tenant AND g.grant_id = access_tokens.grant_id);
UPDATE refresh_tokens SET
    credential_id = (SELECT g.credential_id FROM grant_credentials g
                     WHERE g.tenant = refresh_tokens.tenant AND g.grant_id = refresh_tokens.grant_id),
    granted_at = 0
    WHERE EXISTS (SELECT 1 FROM grant_credentials g
                  WHERE g.tenant = refresh_tokens.tenant AND g.grant_id = refresh_tokens.grant_id);
DROP TABLE grant_credentials;
