//! FIDO Metadata Service (MDS3) BLOBs (being written).
