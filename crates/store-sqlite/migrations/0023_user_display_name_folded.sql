-- An authenticator-service user's display name folded (Unicode lowercase, `fold_display_name`) for the operators'
-- search by its start. Rows stored before this migration are folded by the migration runner right after it.
ALTER TABLE users ADD COLUMN display_name_folded TEXT NOT NULL DEFAULT '';
