-- The admin lists' filters (applied in the store, before paging). A client's display name folded (Unicode
-- lowercase, `fold_display_name`, computed in Rust on every write) for the search by its start. Rows stored before
-- it (or by an older node during a rolling upgrade) hold NULL and are folded in Rust when a store opens
-- (`fold_legacy_client_names`): the database's `lower` folds only ASCII under the C locale.
ALTER TABLE clients ADD COLUMN display_name_folded TEXT;
