//! The harness is `tessera_testkit::app` (`spawn_app`), shared by every HTTP test of the workspace.

pub use tessera_testkit::app::*;
