-- Broker tenant updates are guarded against lost updates, as tenant updates are (0004): an update names the revision
-- it read, and changes the row only if it is still at that revision (then one more). Existing tenants start at 1.
ALTER TABLE broker_tenants ADD COLUMN revision INTEGER NOT NULL DEFAULT 1 CHECK (revision >= 1);
