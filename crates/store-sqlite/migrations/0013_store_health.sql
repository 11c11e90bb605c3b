-- One row the readiness probe writes (its time), so that "ready" means "a write just committed".
CREATE TABLE store_health (
    id          INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    checked_at  INTEGER NOT NULL
) STRICT;
