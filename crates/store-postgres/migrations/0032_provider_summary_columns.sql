-- The identity providers' lists (the portal's and the admin API's) read summaries only, never the encrypted secret,
-- the metadata or the JWKS: the issuer the metadata names and the number of usable signing keys in the JWKS are
-- kept beside the configuration, written with every save and every metadata refresh.
-- `issuer` is backfilled here from the stored metadata. `signing_keys` needs the JWKS parser (which keys are usable
-- is the broker's rule, not SQL's): it stays NULL for a provider saved before this migration until its next save or
-- metadata refresh, and until then the service counts the keys of that one provider from its JWKS when listing it.
ALTER TABLE identity_providers ADD COLUMN issuer TEXT;
ALTER TABLE identity_providers ADD COLUMN signing_keys INTEGER;
UPDATE identity_providers SET issuer = metadata->>'issuer' WHERE jsonb_typeof(metadata->'issuer') = 'string';
