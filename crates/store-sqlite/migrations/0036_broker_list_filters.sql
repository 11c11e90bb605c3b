-- The broker lists' filters (applied in the store, before paging): an application's display name and an identity
-- provider's name folded (Unicode lowercase, `fold_display_name`, computed in Rust on every write) for the search by
-- their start, so that a filtered page reads neither the settings nor the configuration JSON of the rows it skips.
-- Rows stored before this migration are folded by the migration runner right after it (SQLite's `lower` folds ASCII
-- only).
ALTER TABLE broker_applications ADD COLUMN display_name_folded TEXT NOT NULL DEFAULT '';
ALTER TABLE identity_providers ADD COLUMN name_folded TEXT NOT NULL DEFAULT '';
CREATE INDEX broker_applications_name_folded ON broker_applications (tenant, display_name_folded);
CREATE INDEX identity_providers_name_folded ON identity_providers (tenant, name_folded);
