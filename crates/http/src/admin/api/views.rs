//! Small helpers shared by the resources: timestamps as RFC 3339 text and list pages.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A time as RFC 3339 text (`2026-12-02T16:00:00Z`).
pub fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

/// Defines a page type `{items, next_cursor}` of a view, for lists and their OpenAPI schema.
macro_rules! page_of {
    ($page:ident, $item:ty, $what:literal) => {
        #[doc = concat!("One page of ", $what, ".")]
        #[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
        pub struct $page {
            /// The items of this page.
            pub items: Vec<$item>,
            /// Pass as `cursor` for the next page; absent on the last page.
            pub next_cursor: Option<String>,
        }
    };
}
pub(crate) use page_of;
