-- Sessions keep what the WebAuthn ceremony established (the facts `amr` and `acr` are computed from, by the
-- OpenID Connect rules alone) and a public handle, `sid`, for ID tokens and RP-initiated logout.
-- Credentials remember whether their attestation was trusted, which the `acr` of later sign-ins needs.

ALTER TABLE credentials ADD COLUMN attestation_trusted INTEGER NOT NULL DEFAULT 0;

ALTER TABLE sessions ADD COLUMN sid TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN user_verified INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN backup_eligible INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN attestation_trusted INTEGER NOT NULL DEFAULT 0;

-- Live sessions keep their user verification and key kind; attestation trust was not recorded, so it stays false.
UPDATE sessions SET
    sid = lower(hex(randomblob(16))),
    user_verified = EXISTS (SELECT 1 FROM json_each(sessions.amr) WHERE value = 'mfa'),
    backup_eligible = EXISTS (SELECT 1 FROM json_each(sessions.amr) WHERE value = 'swk');

ALTER TABLE sessions DROP COLUMN amr;
ALTER TABLE sessions DROP COLUMN acr;

CREATE UNIQUE INDEX sessions_by_sid ON sessions (tenant, sid);
