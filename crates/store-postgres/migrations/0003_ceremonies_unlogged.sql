-- Ceremonies (challenges, pending authorization requests, JWT ids) live minutes and are consumed once: their table
-- is not written to the WAL, so that storing and taking one never waits for a commit fsync. After a crash the table
-- is empty, which refuses the ceremonies in flight like expired ones; the user starts again.
ALTER TABLE ceremonies SET UNLOGGED;
