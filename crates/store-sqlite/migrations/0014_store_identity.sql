-- The store's identity: a random id made when the store is first opened, also written beside the database file
-- (`<file>.identity`), so that a start finding the identity without its database (deleted, or another file put in
-- its place) refuses to go on with an empty or foreign store.
CREATE TABLE store_identity (
    id  TEXT NOT NULL PRIMARY KEY
) STRICT;
