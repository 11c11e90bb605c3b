-- Sessions remember the passkey they were signed in with and when they were last used (the idle timeout); grants
-- remember the passkey of the session they were issued from. Deleting a passkey ends those sessions and revokes those
-- grants in the same transaction.
ALTER TABLE sessions
    ADD COLUMN credential_id BYTEA,
    ADD COLUMN last_seen_at TIMESTAMPTZ;
CREATE INDEX sessions_by_credential ON sessions (tenant, credential_id);

CREATE TABLE grant_credentials (
    tenant         TEXT        NOT NULL,
    grant_id       TEXT        NOT NULL,
    credential_id  BYTEA       NOT NULL,
    -- When the grant's last token can expire; the row is purged after it.
    expires_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, grant_id)
);
CREATE INDEX grant_credentials_by_credential ON grant_credentials (tenant, credential_id);
CREATE INDEX grant_credentials_by_expiry ON grant_credentials (expires_at);

-- A credential id is registered at most once per RP ID, across the tenants that share it (WebAuthn L3 §7.1 "Verify
-- that the credentialId is not yet registered for any user"). The row goes with its credential.
CREATE TABLE credential_rp_ids (
    rp_id          TEXT  NOT NULL,
    credential_id  BYTEA NOT NULL,
    tenant         TEXT  NOT NULL,
    PRIMARY KEY (rp_id, credential_id),
    FOREIGN KEY (tenant, credential_id) REFERENCES credentials (tenant, credential_id) ON DELETE CASCADE
);
CREATE INDEX credential_rp_ids_by_credential ON credential_rp_ids (tenant, credential_id);
INSERT INTO credential_rp_ids (rp_id, credential_id, tenant)
    SELECT t.rp_id, c.credential_id, c.tenant FROM credentials c JOIN tenants t ON t.id = c.tenant
    ORDER BY c.created_at
    ON CONFLICT DO NOTHING;
