-- The broker lists' filters (applied in the store, before paging): an application's display name and an identity
-- provider's name folded (Unicode lowercase, `fold_display_name`, computed in Rust on every write) for the search by
-- their start, so that a filtered page reads neither the settings nor the configuration JSON of the rows it skips.
-- Rows stored before it (or by an older node during a rolling upgrade) hold NULL and are folded in Rust when a store
-- opens (`fold_legacy_broker_names`): the database's `lower` folds only ASCII under the C locale.
ALTER TABLE broker_applications ADD COLUMN display_name_folded TEXT;
ALTER TABLE identity_providers ADD COLUMN name_folded TEXT;
CREATE INDEX broker_applications_name_folded ON broker_applications (tenant, display_name_folded);
CREATE INDEX identity_providers_name_folded ON identity_providers (tenant, name_folded);
