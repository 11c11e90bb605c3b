-- Fewer b-tree pages written per sign-in (each is a page in the write-ahead log).
-- The sessions of a passkey are found through the user's sessions: `sessions_by_user` gains the credential, and the
-- separate `sessions_by_credential` index goes.
DROP INDEX sessions_by_credential;
DROP INDEX sessions_by_user;
CREATE INDEX sessions_by_user ON sessions (tenant, user_id, credential_id);

-- A grant's bond to its passkey is keyed by the passkey first, the only way it is looked up (revocation), so the
-- table needs no second index for it; binding the same grant again is still ignored.
CREATE TABLE grant_credentials_by_passkey (
    tenant         TEXT    NOT NULL,
    credential_id  BLOB    NOT NULL,
    grant_id       TEXT    NOT NULL,
    -- When the grant's last token can expire; the row is purged after it.
    expires_at     INTEGER NOT NULL,
    PRIMARY KEY (tenant, credential_id, grant_id)
) STRICT, WITHOUT ROWID;
INSERT OR IGNORE INTO grant_credentials_by_passkey (tenant, credential_id, grant_id, expires_at)
    SELECT tenant, credential_id, grant_id, expires_at FROM grant_credentials;
DROP TABLE grant_credentials;
ALTER TABLE grant_credentials_by_passkey RENAME TO grant_credentials;
CREATE INDEX grant_credentials_by_expiry ON grant_credentials (expires_at);
