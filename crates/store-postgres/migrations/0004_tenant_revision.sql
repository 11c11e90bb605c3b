-- Tenant updates are guarded against lost updates: an update names the revision it read, and changes the row only if
-- it is still at that revision (then one more). Existing tenants start at revision 1.
ALTER TABLE tenants ADD COLUMN revision BIGINT NOT NULL DEFAULT 1 CHECK (revision >= 1);
