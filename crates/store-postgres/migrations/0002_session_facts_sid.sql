-- Sessions keep what the WebAuthn ceremony established (the facts `amr` and `acr` are computed from, by the
-- OpenID Connect rules alone) and a public handle, `sid`, for ID tokens and RP-initiated logout.
-- Credentials remember whether their attestation was trusted, which the `acr` of later sign-ins needs.

ALTER TABLE credentials ADD COLUMN attestation_trusted BOOLEAN NOT NULL DEFAULT FALSE;

ALTER TABLE sessions
    ADD COLUMN sid TEXT,
    ADD COLUMN user_verified BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN backup_eligible BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN attestation_trusted BOOLEAN NOT NULL DEFAULT FALSE;

-- Live sessions keep their user verification and key kind; attestation trust was not recorded, so it stays false.
UPDATE sessions SET
    sid = md5(random()::text || encode(id_hash, 'hex')),
    user_verified = 'mfa' = ANY (amr),
    backup_eligible = 'swk' = ANY (amr);

ALTER TABLE sessions
    ALTER COLUMN sid SET NOT NULL,
    DROP COLUMN amr,
    DROP COLUMN acr;

CREATE UNIQUE INDEX sessions_by_sid ON sessions (tenant, sid);
