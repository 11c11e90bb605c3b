-- The admin lists' filters (applied in the store, before paging). A client's display name folded (Unicode
-- lowercase, `fold_display_name`) for the search by its start; rows stored before this migration are folded by the
-- migration runner right after it (SQLite's `lower` folds ASCII only).
ALTER TABLE clients ADD COLUMN display_name_folded TEXT NOT NULL DEFAULT '';
