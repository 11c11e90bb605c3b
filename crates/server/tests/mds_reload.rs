//! The maintenance task's reload of the `[webauthn]` files: a replaced MDS BLOB or trust-anchor file is verified and
//! swapped in; a refused one is logged and the loaded settings kept.

use std::sync::Arc;

use tessera_core::SystemClock;
use tessera_http::{AppState, PublicUrl, SecuritySettings};
use tessera_server::app::TrustWatch;
use tessera_server::trust::{self, MdsFiles, TrustFiles};
use tessera_store::Backend;
use tessera_testkit::TestCa;

fn write(path: &std::path::Path, data: &str) {
    std::fs::write(path, data).unwrap_or_else(|e| panic!("{e}"));
}

/// File systems with coarse timestamps: make sure the rewrite shows as a change.
fn bump(path: &std::path::Path, seconds: u64) {
    let file = std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("{e}"));
    let when = std::time::SystemTime::now() + std::time::Duration::from_secs(seconds);
    file.set_modified(when).unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn changed_trust_files_are_reloaded_and_refused_ones_keep_the_loaded_settings() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let ca = TestCa::new("MDS Root").unwrap_or_else(|e| panic!("{e}"));
    let files = TrustFiles {
        trust_anchors_file: Some(dir.path().join("anchors.pem")),
        mds: Some(MdsFiles {
            blob: dir.path().join("mds.jwt"),
            root: dir.path().join("root.pem"),
        }),
    };
    let blob = |no: u64| {
        ca.mds_blob(no, "2099-01-01", &[])
            .unwrap_or_else(|e| panic!("{e}"))
    };
    write(&dir.path().join("root.pem"), &ca.root_pem());
    write(&dir.path().join("anchors.pem"), &ca.root_pem());
    write(&dir.path().join("mds.jwt"), &blob(1));
    let settings =
        trust::load(&files, time::OffsetDateTime::now_utc()).unwrap_or_else(|e| panic!("{e}"));

    let db = tessera_testkit::TempSqlite::new().unwrap_or_else(|e| panic!("{e}"));
    let store: Arc<dyn Backend> = Arc::new(
        tessera_store_sqlite::SqliteStore::open(db.path())
            .await
            .unwrap_or_else(|e| panic!("{e}")),
    );
    let state = AppState::new(
        store,
        Arc::new(SystemClock),
        PublicUrl::parse("http://localhost:8080").unwrap_or_else(|e| panic!("{e}")),
        SecuritySettings::default(),
        tessera_oidc::MasterKey::generate().unwrap_or_else(|e| panic!("{e}")),
    )
    .with_attestation(settings);
    let no = |state: &AppState| {
        state
            .attestation
            .current()
            .metadata
            .as_ref()
            .map(|m| m.no())
    };
    let mut watch = TrustWatch::new(&files);
    assert!(!watch.reload_if_changed(&state, &files), "unchanged files");
    assert_eq!(no(&state), Some(1));

    write(&dir.path().join("mds.jwt"), &blob(2));
    bump(&dir.path().join("mds.jwt"), 5);
    assert!(watch.reload_if_changed(&state, &files));
    assert_eq!(no(&state), Some(2));

    write(&dir.path().join("mds.jwt"), "garbage");
    bump(&dir.path().join("mds.jwt"), 10);
    assert!(!watch.reload_if_changed(&state, &files));
    assert_eq!(
        no(&state),
        Some(2),
        "a refused BLOB never replaces a good one"
    );
}
