//! The admin surfaces' use cases will live here: what the REST API at `/admin/api/v1/...`, the portal at `/admin/`
//! and the CLI client share beyond [`crate::tenants`], [`crate::clients`] and [`crate::keys`] (listing and paging,
//! operator accounts and their authorization, audit records).

pub mod token_viewer;
