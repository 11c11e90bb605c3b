//! `tessera idp tenant create|update|show`: a tenant's authenticator policy set from the command line, stored through
//! `tessera_service::tenants` and printed back. Runs the real binary against a temporary data directory.

use std::process::Command;

use serde_json::Value;

struct Answer {
    code: i32,
    stdout: String,
    stderr: String,
}

fn tessera(dir: &std::path::Path, args: &[&str]) -> Answer {
    let output = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env_remove("TESSERA_CONFIG")
        .output()
        .unwrap_or_else(|e| panic!("cannot run tessera: {e}"));
    Answer {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn create(dir: &std::path::Path, extra: &[&str]) -> Answer {
    let mut args = vec![
        "idp",
        "tenant",
        "create",
        "--id",
        "acme",
        "--rp-id",
        "localhost",
        "--origin",
        "http://localhost:8080",
    ];
    args.extend_from_slice(extra);
    tessera(dir, &args)
}

fn show(dir: &std::path::Path) -> Value {
    let answer = tessera(dir, &["idp", "tenant", "show", "--id", "acme"]);
    assert_eq!(answer.code, 0, "{}", answer.stderr);
    serde_json::from_str(&answer.stdout).unwrap_or_else(|e| panic!("{e}: {}", answer.stdout))
}

const KEY_A: &str = "cb69481e-8ff7-4039-93ec-0a2729a154a8";
const KEY_B: &str = "ee882879-721c-4913-9775-3dfcce97072a";

#[test]
fn tenant_created_with_policy_flags_stores_and_shows_them() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let created = create(
        dir.path(),
        &[
            "--display-name",
            "Acme",
            "--no-require-uv",
            "--attestation",
            "trusted",
            "--aaguid-allow",
            KEY_A,
            "--aaguid-deny",
            KEY_B,
            "--min-certification-level",
            "L1plus",
            "--synced-passkeys",
            "deny",
            "--sign-count",
            "report",
            "--legacy-appid",
            "https://acme.example/app-id.json",
        ],
    );
    assert_eq!(created.code, 0, "{}", created.stderr);
    let shown = show(dir.path());
    assert_eq!(shown["display_name"], "Acme");
    let policy = &shown["policy"];
    assert_eq!(policy["user_verification"], "preferred");
    assert_eq!(policy["attestation"], "trusted");
    assert_eq!(policy["aaguid_allow"][0], KEY_A);
    assert_eq!(policy["aaguid_deny"][0], KEY_B);
    assert_eq!(
        policy["minimum_certification_level"],
        "FIDO_CERTIFIED_L1PLUS"
    );
    assert_eq!(policy["synced_passkeys"], "refuse");
    assert_eq!(policy["sign_count"], "report_only");
    assert_eq!(policy["legacy_appid"], "https://acme.example/app-id.json");
}

#[test]
fn tenant_update_changes_only_the_settings_given() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let created = create(dir.path(), &["--synced-passkeys", "deny"]);
    assert_eq!(created.code, 0, "{}", created.stderr);
    let defaults = show(dir.path());
    assert_eq!(defaults["policy"]["user_verification"], "required");
    assert_eq!(defaults["policy"]["attestation"], "none");

    let updated = tessera(
        dir.path(),
        &[
            "idp",
            "tenant",
            "update",
            "--id",
            "acme",
            "--attestation",
            "any",
            "--aaguid-deny",
            KEY_A,
            "--aaguid-deny",
            KEY_B,
            "--origin",
            "http://localhost:8080",
            "--origin",
            "http://id.localhost:8080",
            "--display-name",
            "Acme Corp",
        ],
    );
    assert_eq!(updated.code, 0, "{}", updated.stderr);
    let shown = show(dir.path());
    assert_eq!(shown["display_name"], "Acme Corp");
    assert_eq!(shown["origins"][1], "http://id.localhost:8080");
    assert_eq!(shown["policy"]["attestation"], "any");
    assert_eq!(
        shown["policy"]["synced_passkeys"], "refuse",
        "kept: not given"
    );
    assert_eq!(
        shown["policy"]["aaguid_deny"].as_array().map(Vec::len),
        Some(2)
    );

    let cleared = tessera(
        dir.path(),
        &[
            "idp",
            "tenant",
            "update",
            "--id",
            "acme",
            "--clear-aaguid-deny",
            "--synced-passkeys",
            "allow",
            "--min-certification-level",
            "none",
        ],
    );
    assert_eq!(cleared.code, 0, "{}", cleared.stderr);
    let shown = show(dir.path());
    assert_eq!(shown["policy"]["aaguid_deny"], Value::Array(Vec::new()));
    assert_eq!(shown["policy"]["synced_passkeys"], "allow");
}

#[test]
fn tenant_update_refuses_bad_values_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(create(dir.path(), &[]).code, 0);
    let update = |extra: &[&str]| {
        let mut args = vec!["idp", "tenant", "update", "--id", "acme"];
        args.extend_from_slice(extra);
        tessera(dir.path(), &args)
    };
    let nothing = update(&[]);
    assert_ne!(nothing.code, 0);
    assert!(
        nothing.stderr.contains("nothing to change"),
        "{}",
        nothing.stderr
    );
    let level = update(&["--min-certification-level", "L9"]);
    assert_ne!(level.code, 0);
    assert!(
        level.stderr.contains("min-certification-level"),
        "{}",
        level.stderr
    );
    let aaguid = update(&["--aaguid-allow", "not-a-uuid"]);
    assert_ne!(aaguid.code, 0);
    assert!(aaguid.stderr.contains("aaguid"), "{}", aaguid.stderr);
    let both = update(&["--aaguid-allow", KEY_A, "--aaguid-deny", KEY_A]);
    assert_ne!(both.code, 0);
    assert!(
        both.stderr.contains("both allowed and denied"),
        "{}",
        both.stderr
    );
    let origin = update(&["--origin", "https://evil.example"]);
    assert_ne!(origin.code, 0);
    assert!(origin.stderr.contains("origin"), "{}", origin.stderr);
    let appid = update(&["--legacy-appid", "ftp://x"]);
    assert_ne!(appid.code, 0);
    assert!(appid.stderr.contains("legacy-appid"), "{}", appid.stderr);
    let unknown = tessera(
        dir.path(),
        &[
            "idp",
            "tenant",
            "update",
            "--id",
            "nosuch",
            "--attestation",
            "any",
        ],
    );
    assert_ne!(unknown.code, 0);
    let shown = show(dir.path());
    assert_eq!(shown["policy"]["attestation"], "none", "nothing was stored");
}
