-- An authenticator-service user's display name folded (Unicode lowercase, `fold_display_name`) for the operators'
-- search by its start; rows stored before it are folded with the database's `lower`.
ALTER TABLE users ADD COLUMN display_name_folded TEXT NOT NULL DEFAULT '';
UPDATE users SET display_name_folded = lower(display_name);
