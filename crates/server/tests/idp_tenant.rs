//! The operator commands: `tessera idp tenant create|update|show|list` (a tenant's authenticator policy set from the
//! command line, stored through `tessera_service::tenants` and printed back), `tessera idp client
//! create|list|show|update|delete`, and `--output json` on each. Runs the real binary against a temporary data
//! directory.

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
    let answer = tessera(
        dir,
        &["idp", "tenant", "show", "--id", "acme", "--output", "json"],
    );
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
fn tenant_update_sets_session_and_enumeration_settings_and_returns_them_to_default() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(create(dir.path(), &[]).code, 0);
    let defaults = show(dir.path());
    assert_eq!(defaults["settings"]["session_idle_seconds"], 3600);
    assert_eq!(
        defaults["settings"]["session_lifetime_seconds"],
        Value::Null
    );
    assert_eq!(defaults["settings"]["hide_account_existence"], true);

    let update = |extra: &[&str]| {
        let mut args = vec!["idp", "tenant", "update", "--id", "acme"];
        args.extend_from_slice(extra);
        tessera(dir.path(), &args)
    };
    let set = update(&[
        "--session-idle-seconds",
        "900",
        "--session-lifetime-seconds",
        "28800",
        "--hide-account-existence",
        "false",
    ]);
    assert_eq!(set.code, 0, "{}", set.stderr);
    assert!(
        set.stdout.contains("session idle timeout: 900 s"),
        "{}",
        set.stdout
    );
    let shown = show(dir.path());
    assert_eq!(shown["settings"]["session_idle_seconds"], 900);
    assert_eq!(shown["settings"]["session_lifetime_seconds"], 28800);
    assert_eq!(shown["settings"]["hide_account_existence"], false);

    let idle_longer_than_lifetime = update(&["--session-idle-seconds", "30000"]);
    assert_ne!(idle_longer_than_lifetime.code, 0);
    assert!(
        idle_longer_than_lifetime
            .stderr
            .contains("session-idle-seconds"),
        "{}",
        idle_longer_than_lifetime.stderr
    );
    let not_a_number = update(&["--session-lifetime-seconds", "forever"]);
    assert_ne!(not_a_number.code, 0);
    assert!(
        not_a_number.stderr.contains("session-lifetime-seconds"),
        "{}",
        not_a_number.stderr
    );
    assert_eq!(
        show(dir.path())["settings"]["session_idle_seconds"],
        900,
        "kept"
    );

    let reset = update(&[
        "--session-idle-seconds",
        "default",
        "--session-lifetime-seconds",
        "default",
        "--hide-account-existence",
        "default",
    ]);
    assert_eq!(reset.code, 0, "{}", reset.stderr);
    let shown = show(dir.path());
    assert_eq!(shown["settings"], defaults["settings"]);
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

fn json(answer: &Answer) -> Value {
    assert_eq!(answer.code, 0, "{}", answer.stderr);
    serde_json::from_str(&answer.stdout).unwrap_or_else(|e| panic!("{e}: {}", answer.stdout))
}

fn client_create(dir: &std::path::Path, extra: &[&str]) -> Answer {
    let mut args = vec!["idp", "client", "create", "--tenant", "acme"];
    args.extend_from_slice(extra);
    tessera(dir, &args)
}

#[test]
fn tenant_show_and_list_speak_text_by_default_and_json_on_request() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let created = create(dir.path(), &["--display-name", "Acme", "--output", "json"]);
    let created = json(&created);
    assert_eq!(created["id"], "acme");
    assert_eq!(created["policy"]["user_verification"], "required");
    let text = tessera(dir.path(), &["idp", "tenant", "show", "--id", "acme"]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(
        text.stdout.contains("display name: Acme\n"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("  user_verification: required"),
        "{}",
        text.stdout
    );
    assert!(
        !text.stdout.trim_start().starts_with('{'),
        "{}",
        text.stdout
    );
    let listed = json(&tessera(
        dir.path(),
        &["idp", "tenant", "list", "--output", "json"],
    ));
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    for key in ["id", "display_name", "rp_id", "origins", "policy"] {
        assert!(listed[0].get(key).is_some(), "tenant key {key}: {listed}");
    }
}

#[test]
fn client_lifecycle_create_list_show_update_delete() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(create(dir.path(), &[]).code, 0);
    // Without --name, the name users see is the redirect URI's host, not a random id.
    let created = json(&client_create(
        dir.path(),
        &[
            "--redirect-uri",
            "https://app.example.com/cb",
            "--output",
            "json",
        ],
    ));
    let id = created["client_id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(created["name"], "app.example.com");
    assert!(
        created["client_secret"]
            .as_str()
            .is_some_and(|s| s.len() >= 43)
    );
    assert_eq!(created["public"], false);
    for key in [
        "tenant",
        "client_id",
        "name",
        "public",
        "token_endpoint_auth_method",
        "id_token_signed_response_alg",
        "redirect_uris",
        "post_logout_redirect_uris",
        "allowed_scopes",
        "created_at",
    ] {
        assert!(created.get(key).is_some(), "client key {key}: {created}");
    }
    let public = client_create(
        dir.path(),
        &[
            "--redirect-uri",
            "com.example.app:/cb",
            "--public",
            "--name",
            "Phone app",
        ],
    );
    assert_eq!(public.code, 0, "{}", public.stderr);
    assert!(
        public.stdout.contains("name: Phone app"),
        "{}",
        public.stdout
    );
    assert!(
        !public.stdout.contains("client_secret"),
        "{}",
        public.stdout
    );

    let listed = json(&tessera(
        dir.path(),
        &[
            "idp", "client", "list", "--tenant", "acme", "--output", "json",
        ],
    ));
    assert_eq!(listed.as_array().map(Vec::len), Some(2));
    assert!(
        listed
            .as_array()
            .into_iter()
            .flatten()
            .all(|c| c.get("client_secret").is_none()),
        "a listing never shows secrets: {listed}"
    );
    let text = tessera(dir.path(), &["idp", "client", "list", "--tenant", "acme"]);
    assert!(
        text.stdout.contains(&format!(
            "{id}\tclient_secret_basic\thttps://app.example.com/cb\tapp.example.com"
        )),
        "{}",
        text.stdout
    );

    let updated = json(&tessera(
        dir.path(),
        &[
            "idp",
            "client",
            "update",
            "--tenant",
            "acme",
            "--client-id",
            &id,
            "--name",
            "Shop",
            "--redirect-uri",
            "https://shop.example.com/cb",
            "--redirect-uri",
            "http://127.0.0.1:4000/cb",
            "--output",
            "json",
        ],
    ));
    assert_eq!(updated["name"], "Shop");
    assert_eq!(updated["redirect_uris"][1], "http://127.0.0.1:4000/cb");
    let shown = tessera(
        dir.path(),
        &[
            "idp",
            "client",
            "show",
            "--tenant",
            "acme",
            "--client-id",
            &id,
        ],
    );
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    assert!(shown.stdout.contains("name: Shop\n"), "{}", shown.stdout);
    assert!(
        shown.stdout.contains("kind: confidential"),
        "{}",
        shown.stdout
    );
    let bad = tessera(
        dir.path(),
        &[
            "idp",
            "client",
            "update",
            "--tenant",
            "acme",
            "--client-id",
            &id,
            "--redirect-uri",
            "http://shop.example.com/cb",
        ],
    );
    assert_ne!(bad.code, 0);
    assert!(bad.stderr.contains("accepted: https://"), "{}", bad.stderr);
    let nothing = tessera(
        dir.path(),
        &[
            "idp",
            "client",
            "update",
            "--tenant",
            "acme",
            "--client-id",
            &id,
        ],
    );
    assert!(
        nothing.stderr.contains("nothing to change"),
        "{}",
        nothing.stderr
    );

    let deleted = json(&tessera(
        dir.path(),
        &[
            "idp",
            "client",
            "delete",
            "--tenant",
            "acme",
            "--client-id",
            &id,
            "--output",
            "json",
        ],
    ));
    assert_eq!(deleted["deleted"], true);
    assert_eq!(deleted["client_id"], id.as_str());
    let gone = tessera(
        dir.path(),
        &[
            "idp",
            "client",
            "show",
            "--tenant",
            "acme",
            "--client-id",
            &id,
        ],
    );
    assert_ne!(gone.code, 0);
    assert!(gone.stderr.contains("unknown client"), "{}", gone.stderr);
    let again = tessera(
        dir.path(),
        &[
            "idp",
            "client",
            "delete",
            "--tenant",
            "acme",
            "--client-id",
            &id,
        ],
    );
    assert!(again.stderr.contains("unknown client"), "{}", again.stderr);
    let ghost = tessera(dir.path(), &["idp", "client", "list", "--tenant", "ghost"]);
    assert!(ghost.stderr.contains("unknown tenant"), "{}", ghost.stderr);
}

#[test]
fn a_refused_redirect_uri_says_why_and_what_is_accepted() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(create(dir.path(), &[]).code, 0);
    let off_loopback = client_create(dir.path(), &["--redirect-uri", "http://rp.example/cb"]);
    assert_ne!(off_loopback.code, 0);
    assert!(
        off_loopback
            .stderr
            .contains("http is allowed only on a loopback IP"),
        "{}",
        off_loopback.stderr
    );
    assert!(
        off_loopback.stderr.contains("accepted: https://"),
        "{}",
        off_loopback.stderr
    );
    let localhost = client_create(
        dir.path(),
        &["--redirect-uri", "http://localhost:3000/callback"],
    );
    assert_ne!(localhost.code, 0);
    assert!(
        localhost.stderr.contains("RFC 8252"),
        "{}",
        localhost.stderr
    );
    assert!(
        localhost
            .stderr
            .contains("\"http://127.0.0.1:3000/callback\""),
        "{}",
        localhost.stderr
    );
    assert!(
        localhost.stderr.contains("--allow-localhost-http"),
        "{}",
        localhost.stderr
    );
    let listed = json(&tessera(
        dir.path(),
        &[
            "idp", "client", "list", "--tenant", "acme", "--output", "json",
        ],
    ));
    assert_eq!(listed, Value::Array(Vec::new()), "nothing half-written");
    let allowed = json(&client_create(
        dir.path(),
        &[
            "--redirect-uri",
            "http://localhost:3000/callback",
            "--allow-localhost-http",
            "--public",
            "--output",
            "json",
        ],
    ));
    assert_eq!(allowed["name"], "localhost:3000");
    let none = client_create(dir.path(), &[]);
    assert_ne!(none.code, 0);
    assert!(none.stderr.contains("--redirect-uri"), "{}", none.stderr);
}

#[test]
fn generated_client_ids_never_begin_with_a_dash_and_are_accepted_as_values() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(create(dir.path(), &[]).code, 0);
    for _ in 0..8 {
        let created = json(&client_create(
            dir.path(),
            &[
                "--redirect-uri",
                "https://app.example.com/cb",
                "--output",
                "json",
            ],
        ));
        let id = created["client_id"].as_str().unwrap_or_default().to_owned();
        assert!(!id.is_empty() && !id.starts_with('-'), "{id}");
        let shown = tessera(
            dir.path(),
            &[
                "idp",
                "client",
                "show",
                "--tenant",
                "acme",
                "--client-id",
                &id,
            ],
        );
        assert_eq!(shown.code, 0, "{}", shown.stderr);
    }
}

#[test]
fn keys_rotate_answers_in_json_with_the_new_kids() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(create(dir.path(), &[]).code, 0);
    let rotated = json(&tessera(
        dir.path(),
        &["keys", "rotate", "--tenant", "acme", "--output", "json"],
    ));
    assert_eq!(rotated["tenant"], "acme");
    assert_eq!(rotated["rotation"], "staged");
    assert_eq!(rotated["kids"].as_array().map(Vec::len), Some(2));
    assert!(
        rotated["signs_from"]
            .as_str()
            .is_some_and(|s| s.ends_with('Z')),
        "{rotated}"
    );
}

#[test]
fn store_init_starts_a_new_store_only_when_told_and_leaves_a_present_one_alone() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(create(dir.path(), &[]).code, 0);
    let in_place = json(&tessera(dir.path(), &["store", "init", "--output", "json"]));
    assert_eq!(in_place["created"], false);
    assert_eq!(
        show(dir.path())["id"],
        "acme",
        "an initialise of a present store keeps it"
    );

    for file in ["tessera.db", "tessera.db-wal", "tessera.db-shm"] {
        let _ = std::fs::remove_file(dir.path().join(file));
    }
    let refused = tessera(dir.path(), &["idp", "tenant", "list"]);
    assert_ne!(refused.code, 0, "a lost database is not silently replaced");
    assert!(refused.stderr.contains("missing"), "{}", refused.stderr);

    let initialised = tessera(dir.path(), &["store", "init"]);
    assert_eq!(initialised.code, 0, "{}", initialised.stderr);
    assert!(
        initialised.stdout.contains("new, empty store"),
        "{}",
        initialised.stdout
    );
    let listed = json(&tessera(
        dir.path(),
        &["idp", "tenant", "list", "--output", "json"],
    ));
    assert_eq!(listed.as_array().map(Vec::len), Some(0), "{listed}");
}
