//! `tessera admin`, the admin API's command-line client, against a running demo: the first administrator's token
//! from the bootstrap secret, the tutorial's configuration replayed with the CLI and compared with the demo's own,
//! the profile file, output formats and the exit codes that tell a script what happened. Every test runs on the
//! demo's SQLite store and on PostgreSQL (`TEST_PG_URL`; skipped with `SKIPPED(pg): <name>` when unset).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::binary::{
    demo_json_with_broker, free_port, start_demo_capturing_on, terminate, tessera, wait_printed,
};

macro_rules! both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    super::$name(tessera_testkit::Backend::Sqlite);
                }
            )*
        }
        mod pg {
            $(
                #[test]
                fn $name() {
                    super::$name(tessera_testkit::Backend::Postgres);
                }
            )*
        }
    };
}

both_stores!(
    admin_cli_bootstraps_replays_the_tutorial_and_exits_by_outcome,
    admin_cli_manages_accounts_passkeys_the_policy_and_invitations,
    admin_cli_prints_every_list_and_show_as_table_json_and_yaml,
    admin_cli_deletes_tenants_and_user_flows_updates_broker_tenants_and_rotates_broker_keys,
    admin_cli_updates_clients_providers_and_flows_and_reads_versions_and_fido_metadata,
    admin_cli_scopes_tokens_and_invitations_to_one_roles_tenant,
);

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// `tessera admin ARGS` with the profile file in `profiles`, `stdin` written to its input.
fn admin(profiles: &Path, env: &[(&str, &str)], args: &[&str], stdin: Option<&str>) -> Run {
    let mut command: Command = tessera();
    command
        .arg("admin")
        .args(args)
        .env("TESSERA_ADMIN_PROFILES", profiles)
        .env_remove("TESSERA_ADMIN_TOKEN")
        .env_remove("TESSERA_ADMIN_URL")
        .env_remove("TESSERA_ADMIN_PROFILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("spawn tessera admin");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write stdin");
    } else {
        drop(child.stdin.take());
    }
    let output = child.wait_with_output().expect("wait");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn json(run: &Run) -> Value {
    assert_eq!(
        run.code, 0,
        "stderr: {}\nstdout: {}",
        run.stderr, run.stdout
    );
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

/// What the tutorial configures in an identity provider, without ids and times.
fn provider_essence(provider: &Value) -> Value {
    serde_json::json!({
        "metadata_url": provider["metadata_url"],
        "scope": provider["scope"],
        "response_type": provider["response_type"],
        "response_mode": provider["response_mode"],
        "claim_mapping": provider["claim_mapping"],
        "has_client_secret": provider["has_client_secret"],
        "issuer": provider["issuer"],
    })
}

/// A running demo on one store, stopped (and its PostgreSQL schema dropped) when the test ends, also when an
/// assertion fails.
struct Demo {
    process: std::process::Child,
    /// `demo.json`, once the broker is configured.
    json: Value,
    /// The server's URL.
    url: String,
    /// The first start's bootstrap secret (`tsb_...`).
    secret: String,
    schema: Option<tessera_testkit::PgSchema>,
    _dir: tempfile::TempDir,
}

impl Demo {
    /// Starts `tessera demo` on a fresh data directory (and, for PostgreSQL, a fresh schema); `None` when
    /// PostgreSQL is asked for and `TEST_PG_URL` is not set.
    fn start(backend: tessera_testkit::Backend) -> Option<Demo> {
        let schema = match backend {
            tessera_testkit::Backend::Sqlite => None,
            tessera_testkit::Backend::Postgres => Some(
                tokio::runtime::Runtime::new()
                    .expect("runtime")
                    .block_on(tessera_testkit::PgSchema::create())?,
            ),
        };
        let dir = tempfile::tempdir().expect("dir");
        let port = free_port();
        let store_url = schema.as_ref().map(tessera_testkit::PgSchema::url);
        let (process, output) = start_demo_capturing_on(dir.path(), port, store_url.as_deref());
        let mut demo = Demo {
            process,
            json: Value::Null,
            url: String::new(),
            secret: String::new(),
            schema,
            _dir: dir,
        };
        let printed = wait_printed(&output, "Admin API:");
        demo.json = demo_json_with_broker(demo._dir.path());
        demo.url = demo.json["authenticator_url"]
            .as_str()
            .map(|u| u.trim_end_matches("/mytenant/oidc").to_owned())
            .unwrap_or_else(|| format!("http://localhost:{port}"));
        demo.secret = printed
            .split("token=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .expect("the demo prints a bootstrap link")
            .to_owned();
        Some(demo)
    }

    /// Stops the demo with SIGTERM and checks that it ended cleanly.
    fn stop(mut self) {
        let status = terminate(&mut self.process);
        assert!(status.success(), "{status:?}");
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if matches!(self.process.try_wait(), Ok(None)) {
            let _ = self.process.kill();
            let _ = self.process.wait();
        }
        if let (Some(schema), Ok(runtime)) = (self.schema.take(), tokio::runtime::Runtime::new()) {
            runtime.block_on(schema.drop_schema());
        }
    }
}

fn admin_cli_bootstraps_replays_the_tutorial_and_exits_by_outcome(
    backend: tessera_testkit::Backend,
) {
    let Some(demo_run) = Demo::start(backend) else {
        return;
    };
    let profiles_dir = tempfile::tempdir().expect("dir");
    let profiles = profiles_dir.path().join("admin.json");
    let demo = demo_run.json.clone();
    let url = demo_run.url.as_str();
    let secret = demo_run.secret.clone();

    // The first start printed a bootstrap link; its secret signs the CLI in as the first global admin, once. A
    // profile file left readable by others is rewritten readable by its owner only.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(&profiles, "{}").expect("stale profile file");
        std::fs::set_permissions(&profiles, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    }
    let login = admin(
        &profiles,
        &[],
        &["login", "--url", url, "--bootstrap-stdin"],
        Some(&secret),
    );
    assert_eq!(login.code, 0, "{}", login.stderr);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&profiles)
        .expect("profile file")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "the profile file is the owner's only");
    let again = admin(
        &profiles,
        &[],
        &[
            "login",
            "--profile",
            "second",
            "--url",
            url,
            "--bootstrap-stdin",
        ],
        Some(&secret),
    );
    assert_eq!(
        again.code, 4,
        "a spent bootstrap secret is refused: {}",
        again.stderr
    );

    // The tutorial, replayed: a client at the authenticator service for a new broker tenant, the identity provider
    // by metadata URL, its claims, a user flow with its attribute and claim, an application, a run.
    let tenant = json(&admin(
        &profiles,
        &[],
        &["-o", "json", "broker-tenant", "create", "--id", "fabrikam"],
        None,
    ));
    assert_eq!(tenant["id"], "fabrikam");
    let authresp = format!("{url}/fabrikam/oauth2/authresp");
    let issued = json(&admin(
        &profiles,
        &[],
        &[
            "-o",
            "json",
            "client",
            "create",
            "--tenant",
            "mytenant",
            "--name",
            "Fabrikam broker",
            "--redirect-uri",
            &authresp,
        ],
        None,
    ));
    let client_id = issued["client"]["client_id"]
        .as_str()
        .expect("client id")
        .to_owned();
    let client_secret = issued["client_secret"]
        .as_str()
        .expect("secret shown once")
        .to_owned();
    let metadata_url = format!("{url}/mytenant/oidc/.well-known/openid-configuration");
    let created = json(&admin(
        &profiles,
        &[],
        &[
            "-o",
            "json",
            "idp",
            "create",
            "--tenant",
            "fabrikam",
            "--name",
            "Nok Nok Authentication Provider",
            "--metadata-url",
            &metadata_url,
            "--client-id",
            &client_id,
            "--client-secret-stdin",
            "--scope",
            "openid profile email",
            "--response-type",
            "code",
            "--response-mode",
            "form_post",
        ],
        Some(&client_secret),
    ));
    let idp_id = created["id"].as_str().expect("idp id").to_owned();
    assert_eq!(idp_id, "nok-nok-authentication-provider");
    assert!(
        !created.to_string().contains(&client_secret),
        "the client secret is never shown back"
    );
    json(&admin(
        &profiles,
        &[],
        &[
            "-o",
            "json",
            "idp",
            "claims",
            "set",
            "--tenant",
            "fabrikam",
            "--id",
            &idp_id,
            "--user-id",
            "sub",
            "--display-name",
            "name",
            "--given-name",
            "given_name",
            "--surname",
            "family_name",
            "--email",
            "email",
        ],
        None,
    ));
    let flow = json(&admin(
        &profiles,
        &[],
        &[
            "-o",
            "json",
            "userflow",
            "create",
            "--tenant",
            "fabrikam",
            "--name",
            "signupsignin",
            "--idp",
            &idp_id,
            "--attribute",
            "email",
            "--claim",
            "email",
        ],
        None,
    ));
    assert_eq!(flow["name"], "B2C_1_signupsignin");
    let revised = json(&admin(
        &profiles,
        &[],
        &[
            "-o",
            "json",
            "userflow",
            "claims",
            "set",
            "--tenant",
            "fabrikam",
            "--name",
            "signupsignin",
            "--value",
            "email",
            "--value",
            "display-name",
            "--value",
            "identity-provider",
            "--value",
            "object-id",
            "--value",
            "new-user",
        ],
        None,
    ));
    assert_eq!(
        revised["current_version"], 2,
        "a change makes a new version: {revised}"
    );
    let viewer = format!("{url}/jwt");
    let app = json(&admin(
        &profiles,
        &[],
        &[
            "-o",
            "json",
            "app",
            "create",
            "--tenant",
            "fabrikam",
            "--name",
            "jwt-viewer",
            "--public",
            "--reply-url",
            &viewer,
        ],
        None,
    ));
    let app_id = app["application"]["client_id"]
        .as_str()
        .expect("app id")
        .to_owned();
    let run = admin(
        &profiles,
        &[],
        &[
            "userflow",
            "run",
            "--tenant",
            "fabrikam",
            "--name",
            "signupsignin",
            "--app",
            &app_id,
        ],
        None,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.trim().starts_with(&format!("{viewer}/run?")),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("B2C_1_signupsignin"), "{}", run.stdout);

    // The same as the demo's own configuration of `contoso`, read back through the CLI in YAML and JSON.
    let mine = json(&admin(
        &profiles,
        &[],
        &["-o", "json", "idp", "show", "--tenant", "fabrikam", &idp_id],
        None,
    ));
    let demos = json(&admin(
        &profiles,
        &[],
        &["-o", "json", "idp", "list", "--tenant", "contoso"],
        None,
    ));
    let reference = demos
        .as_array()
        .and_then(|all| all.first())
        .cloned()
        .expect("the demo's identity provider");
    assert_eq!(provider_essence(&mine), provider_essence(&reference));
    let yaml = admin(
        &profiles,
        &[],
        &[
            "-o",
            "yaml",
            "userflow",
            "show",
            "--tenant",
            "fabrikam",
            "B2C_1_signupsignin",
        ],
        None,
    );
    assert_eq!(yaml.code, 0, "{}", yaml.stderr);
    assert!(
        yaml.stdout.contains("name: B2C_1_signupsignin"),
        "{}",
        yaml.stdout
    );
    let table = admin(
        &profiles,
        &[],
        &["userflow", "list", "--tenant", "fabrikam"],
        None,
    );
    assert!(table.stdout.starts_with("NAME"), "{}", table.stdout);
    assert!(
        table.stdout.contains("B2C_1_signupsignin"),
        "{}",
        table.stdout
    );

    // Exit codes by outcome.
    let missing = admin(
        &profiles,
        &[],
        &["idp", "show", "--tenant", "fabrikam", "nosuch"],
        None,
    );
    assert_eq!(missing.code, 3, "not found: {}", missing.stderr);
    let refused = admin(
        &profiles,
        &[],
        &[
            "idp",
            "create",
            "--tenant",
            "fabrikam",
            "--name",
            "Broken",
            "--metadata-url",
            "ftp://nowhere.example/",
            "--client-id",
            "x",
        ],
        None,
    );
    assert_eq!(refused.code, 6, "a refused value: {}", refused.stderr);
    assert!(
        refused.stderr.contains("metadata_url"),
        "names the field: {}",
        refused.stderr
    );
    let taken = admin(
        &profiles,
        &[],
        &["broker-tenant", "create", "--id", "fabrikam"],
        None,
    );
    assert_eq!(taken.code, 5, "exists: {}", taken.stderr);
    let demo_token = demo["admin_api_token"].as_str().expect("demo token");
    let scoped = admin(
        &profiles,
        &[("TESSERA_ADMIN_TOKEN", demo_token)],
        &["--url", url, "broker-tenant", "show", "fabrikam"],
        None,
    );
    assert_eq!(
        scoped.code, 3,
        "a tenant admin sees nothing of another tenant: {}",
        scoped.stderr
    );
    let wrong = admin(
        &profiles,
        &[("TESSERA_ADMIN_TOKEN", "tsr_not-a-token")],
        &["--url", url, "tenant", "list"],
        None,
    );
    assert_eq!(wrong.code, 4, "{}", wrong.stderr);
    assert!(
        !wrong.stderr.contains("tsr_not-a-token"),
        "no secret in an error"
    );
    let down = admin(
        &profiles,
        &[("TESSERA_ADMIN_TOKEN", demo_token)],
        &[
            "--url",
            &format!("http://127.0.0.1:{}", free_port()),
            "tenant",
            "list",
        ],
        None,
    );
    assert_eq!(down.code, 7, "{}", down.stderr);
    let logout = admin(&profiles, &[], &["logout"], None);
    assert_eq!(logout.code, 0, "{}", logout.stderr);
    let signed_out = admin(&profiles, &[], &["tenant", "list"], None);
    assert_eq!(signed_out.code, 4, "{}", signed_out.stderr);

    // 2: usage (clap's own errors, and a secret missing on stdin); 1: anything unexpected (a corrupt profile file).
    for usage in [
        &["tenant", "list", "--no-such-flag"][..],
        &["-o", "xml", "tenant", "list"][..],
        &["invitation", "create", "--role", "owner"][..],
        &["login", "--url", url, "--token-stdin"][..],
    ] {
        let run = admin(&profiles, &[], usage, Some(""));
        assert_eq!(run.code, 2, "{usage:?}: {}", run.stderr);
    }
    let help = admin(&profiles, &[], &["--help"], None);
    assert_eq!(help.code, 0, "{}", help.stderr);
    assert!(
        help.stdout.contains("Exit codes: 0 done"),
        "the help documents them: {}",
        help.stdout
    );
    std::fs::write(&profiles, "not json").expect("corrupt the profile file");
    let corrupt = admin(&profiles, &[], &["tenant", "list"], None);
    assert_eq!(corrupt.code, 1, "{}", corrupt.stderr);
    assert!(
        corrupt.stderr.contains("admin.json"),
        "names the file: {}",
        corrupt.stderr
    );

    // Completions name the subcommands, for each shell.
    let bash = admin(&profiles, &[], &["completions", "bash"], None);
    assert_eq!(bash.code, 0, "{}", bash.stderr);
    for word in [
        "admin",
        "invitation",
        "broker-tenant",
        "userflow",
        "withdraw",
        "--output",
    ] {
        assert!(bash.stdout.contains(word), "bash completions name {word}");
    }
    for shell in ["zsh", "fish"] {
        let script = admin(&profiles, &[], &["completions", shell], None);
        assert_eq!(script.code, 0, "{}", script.stderr);
        assert!(
            script.stdout.contains("invitation"),
            "{shell}: {}",
            script.stdout
        );
    }
    let unknown = admin(&profiles, &[], &["completions", "tcsh"], None);
    assert_eq!(unknown.code, 2, "{}", unknown.stderr);

    demo_run.stop();
}

/// A person signs up at the demo's `mytenant` with a software passkey, as its sign-up page's script does: their
/// user id.
fn sign_up_at(url: &str, tenant: &str, username: &str) -> String {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        tessera_service::broker::install_default_tls_provider();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let page = http
            .get(format!("{url}/{tenant}/signup"))
            .send()
            .await
            .expect("sign-up page");
        assert_eq!(page.status(), 200);
        let csrf_name =
            tessera_http::csrf::cookie_name(&tessera_core::TenantId::parse(tenant).expect("id"));
        let csrf = page
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|c| {
                c.split(';')
                    .next()
                    .and_then(|c| c.strip_prefix(&format!("{csrf_name}=")))
                    .map(str::to_owned)
            })
            .expect("csrf cookie");
        let call = |path: &str, body: Value| {
            http.post(format!("{url}/{tenant}/webauthn/register/{path}"))
                .header("origin", url)
                .header("cookie", format!("{csrf_name}={csrf}"))
                .header(tessera_http::csrf::CSRF_HEADER, csrf.clone())
                .json(&body)
                .send()
        };
        let options: Value = call(
            "options",
            serde_json::json!({"username": username, "display_name": username}),
        )
        .await
        .expect("options")
        .json()
        .await
        .expect("json");
        let credential = tessera_testkit::SoftAuthenticator::new()
            .register(&options["publicKey"].to_string(), url)
            .expect("a passkey");
        let credential: Value = serde_json::from_str(&credential).expect("json");
        let verified = call(
            "verify",
            serde_json::json!({"ceremony": options["ceremony"], "credential": credential}),
        )
        .await
        .expect("verify");
        assert_eq!(verified.status(), 200, "{:?}", verified.text().await);
    });
    username.to_owned()
}

fn admin_cli_manages_accounts_passkeys_the_policy_and_invitations(
    backend: tessera_testkit::Backend,
) {
    let Some(demo_run) = Demo::start(backend) else {
        return;
    };
    let profiles_dir = tempfile::tempdir().expect("dir");
    let profiles = profiles_dir.path().join("admin.json");
    let demo = demo_run.json.clone();
    let url = demo_run.url.as_str();
    let secret = demo_run.secret.clone();
    let login = admin(
        &profiles,
        &[],
        &["login", "--url", url, "--bootstrap-stdin"],
        Some(&secret),
    );
    assert_eq!(login.code, 0, "{}", login.stderr);
    let cli = |args: &[&str]| admin(&profiles, &[], args, None);

    // Accounts of the authenticator service: list, search, show, disable, enable; passkeys: list, rename, revoke.
    sign_up_at(url, "mytenant", "erin");
    sign_up_at(url, "mytenant", "frank");
    let table = cli(&["account", "list", "--tenant", "mytenant"]);
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert!(table.stdout.starts_with("ID"), "{}", table.stdout);
    assert!(
        table.stdout.contains("erin") && table.stdout.contains("frank"),
        "{}",
        table.stdout
    );
    let found = json(&cli(&[
        "-o", "json", "account", "list", "--tenant", "mytenant", "--search", "er",
    ]));
    let found = found.as_array().cloned().unwrap_or_default();
    assert_eq!(found.len(), 1, "{found:?}");
    let erin = found[0]["id"].as_str().expect("id").to_owned();
    let shown = json(&cli(&[
        "-o", "json", "account", "show", "--tenant", "mytenant", &erin,
    ]));
    assert_eq!(shown["username"], "erin");
    let passkeys = json(&cli(&[
        "-o", "json", "passkey", "list", "--tenant", "mytenant", "--user", &erin,
    ]));
    let passkey = passkeys[0]["id"].as_str().expect("passkey id").to_owned();
    let renamed = json(&cli(&[
        "-o",
        "json",
        "passkey",
        "rename",
        "--tenant",
        "mytenant",
        "--user",
        &erin,
        &passkey,
        "--name",
        "Work laptop",
    ]));
    assert_eq!(renamed["nickname"], "Work laptop");
    let blank = cli(&[
        "passkey", "rename", "--tenant", "mytenant", "--user", &erin, &passkey, "--name", " ",
    ]);
    assert_eq!(blank.code, 6, "a refused value: {}", blank.stderr);
    assert!(blank.stderr.contains("nickname"), "{}", blank.stderr);
    let last = cli(&[
        "passkey", "revoke", "--tenant", "mytenant", "--user", &erin, &passkey,
    ]);
    assert_eq!(last.code, 5, "the last passkey stays: {}", last.stderr);
    let disabled = json(&cli(&[
        "-o", "json", "account", "disable", "--tenant", "mytenant", &erin,
    ]));
    assert!(disabled["disabled_at"].is_string(), "{disabled}");
    // The list's filter flags go to the API, which filters before the page is cut (`--all` keeps them).
    let only_disabled = json(&cli(&[
        "-o", "json", "account", "list", "--tenant", "mytenant", "--status", "disabled", "--all",
        "--limit", "1",
    ]));
    let names: Vec<&str> = only_disabled
        .as_array()
        .map(|a| a.iter().filter_map(|u| u["username"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["erin"], "{only_disabled}");
    let enabled_f = json(&cli(&[
        "-o", "json", "account", "list", "--tenant", "mytenant", "--status", "enabled", "--q", "FR",
    ]));
    assert_eq!(enabled_f[0]["username"], "frank", "{enabled_f}");
    assert_eq!(enabled_f.as_array().map(Vec::len), Some(1), "{enabled_f}");
    let bad_status = cli(&[
        "account", "list", "--tenant", "mytenant", "--status", "locked",
    ]);
    assert_eq!(
        bad_status.code, 6,
        "a refused filter: {}",
        bad_status.stderr
    );
    assert!(
        bad_status.stderr.contains("status"),
        "{}",
        bad_status.stderr
    );
    let rs256 = json(&cli(&[
        "-o", "json", "passkey", "list", "--tenant", "mytenant", "--user", &erin, "--alg", "-257",
    ]));
    assert_eq!(
        rs256,
        serde_json::json!([]),
        "the demo's passkeys are ES256"
    );
    let es256 = json(&cli(&[
        "-o", "json", "passkey", "list", "--tenant", "mytenant", "--user", &erin, "--alg", "ES256",
    ]));
    assert_eq!(es256.as_array().map(Vec::len), Some(1), "{es256}");
    let active = json(&cli(&[
        "-o", "json", "key", "list", "--tenant", "mytenant", "--status", "active", "--alg", "ES256",
    ]));
    let active = active.as_array().cloned().unwrap_or_default();
    assert!(!active.is_empty());
    assert!(
        active
            .iter()
            .all(|k| k["status"] == "active" && k["alg"] == "ES256"),
        "{active:?}"
    );
    let help = cli(&["account", "list", "--help"]);
    assert!(
        help.stdout.contains("--status") && help.stdout.contains("disabled"),
        "the help says what the flag filters: {}",
        help.stdout
    );
    let enabled = json(&cli(&[
        "-o", "json", "account", "enable", "--tenant", "mytenant", &erin,
    ]));
    assert!(enabled["disabled_at"].is_null(), "{enabled}");
    let deleted = cli(&["account", "delete", "--tenant", "mytenant", &erin]);
    assert_eq!(deleted.code, 0, "{}", deleted.stderr);
    let gone = cli(&["account", "show", "--tenant", "mytenant", &erin]);
    assert_eq!(gone.code, 3, "{}", gone.stderr);
    let elsewhere = cli(&["account", "list", "--tenant", "nosuch"]);
    assert_eq!(elsewhere.code, 3, "{}", elsewhere.stderr);

    // The tenant's policy and sessions.
    let set = json(&cli(&[
        "-o",
        "json",
        "tenant",
        "policy",
        "set",
        "mytenant",
        "--attestation",
        "any",
        "--algorithm",
        "-7",
        "--algorithm",
        "-257",
        "--session-idle-seconds",
        "900",
    ]));
    assert_eq!(set["attestation"], "any");
    assert_eq!(set["algorithms"], serde_json::json!([-7, -257]));
    let tenant = json(&cli(&["-o", "json", "tenant", "show", "mytenant"]));
    assert_eq!(tenant["settings"]["session_idle_seconds"], 900);
    let model = "cb69481e-8ff7-4039-93ec-0a2729a154a8";
    let both = cli(&[
        "tenant",
        "policy",
        "set",
        "mytenant",
        "--aaguid-allow",
        model,
        "--aaguid-deny",
        model,
    ]);
    assert_eq!(both.code, 6, "{}", both.stderr);
    assert!(both.stderr.contains("aaguid_allow"), "{}", both.stderr);
    let nothing = cli(&["tenant", "policy", "set", "mytenant"]);
    assert_eq!(nothing.code, 2, "{}", nothing.stderr);
    let shown = json(&cli(&[
        "-o", "json", "tenant", "policy", "show", "mytenant",
    ]));
    assert_eq!(
        shown["attestation"], "any",
        "the refused change wrote nothing"
    );
    assert_eq!(shown["aaguid_deny"], serde_json::json!([]));

    // Invitations of administrators.
    let invited = json(&cli(&[
        "-o",
        "json",
        "invitation",
        "create",
        "--role",
        "tenant-admin",
        "--tenant",
        "mytenant",
        "--expires-in-minutes",
        "60",
    ]));
    assert!(
        invited["invitation_url"]
            .as_str()
            .is_some_and(|u| u.starts_with(&format!("{url}/admin/invitation?token=tsi_"))),
        "{invited}"
    );
    let no_tenant = cli(&["invitation", "create", "--role", "tenant-admin"]);
    assert_eq!(no_tenant.code, 6, "{}", no_tenant.stderr);
    assert!(no_tenant.stderr.contains("tenants"), "{}", no_tenant.stderr);
    let demo_token = demo["admin_api_token"].as_str().expect("demo token");
    let scoped = admin(
        &profiles,
        &[("TESSERA_ADMIN_TOKEN", demo_token)],
        &["--url", url, "invitation", "create", "--role", "read-only"],
        None,
    );
    assert_eq!(scoped.code, 4, "not a global admin: {}", scoped.stderr);

    // Pending invitations: listed without their links, withdrawn by id; the link then fails.
    let invitation_id = invited["id"].as_str().expect("invitation id").to_owned();
    let invitation_url = invited["invitation_url"].as_str().expect("url").to_owned();
    let token = invitation_url.split("token=").nth(1).unwrap_or_default();
    let listed = json(&cli(&["-o", "json", "invitation", "list"]));
    let listed = listed.as_array().cloned().unwrap_or_default();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["id"], invitation_id.as_str());
    assert_eq!(listed[0]["role"], "tenant_admin");
    assert_eq!(listed[0]["tenants"], serde_json::json!(["mytenant"]));
    assert!(
        listed[0]["created_by"]
            .as_str()
            .is_some_and(|c| c.starts_with("token:tok_"))
    );
    let table = cli(&["invitation", "list"]);
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert!(table.stdout.starts_with("ID"), "{}", table.stdout);
    assert!(table.stdout.contains(&invitation_id), "{}", table.stdout);
    assert!(
        !table.stdout.contains(token) && !table.stdout.contains("token="),
        "no link in a list"
    );
    let scoped_list = admin(
        &profiles,
        &[("TESSERA_ADMIN_TOKEN", demo_token)],
        &["--url", url, "invitation", "list"],
        None,
    );
    assert_eq!(
        scoped_list.code, 4,
        "not a global admin: {}",
        scoped_list.stderr
    );
    let withdrawn = cli(&["invitation", "withdraw", &invitation_id]);
    assert_eq!(withdrawn.code, 0, "{}", withdrawn.stderr);
    assert!(
        withdrawn.stdout.contains(&invitation_id),
        "{}",
        withdrawn.stdout
    );
    let twice = cli(&["invitation", "withdraw", &invitation_id]);
    assert_eq!(twice.code, 3, "withdrawn once: {}", twice.stderr);
    let empty = json(&cli(&["-o", "json", "invitation", "list"]));
    assert_eq!(empty, serde_json::json!([]));
    let opened = tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(async {
            reqwest::get(&invitation_url)
                .await
                .expect("open the link")
                .status()
        });
    assert_eq!(
        opened.as_u16(),
        404,
        "a withdrawn link fails like an expired one"
    );

    demo_run.stop();
}

/// Every list and show verb prints a table, JSON, and YAML that holds the same document as the JSON.
fn admin_cli_prints_every_list_and_show_as_table_json_and_yaml(backend: tessera_testkit::Backend) {
    let Some(demo_run) = Demo::start(backend) else {
        return;
    };
    let profiles_dir = tempfile::tempdir().expect("dir");
    let profiles = profiles_dir.path().join("admin.json");
    let login = admin(
        &profiles,
        &[],
        &["login", "--url", &demo_run.url, "--bootstrap-stdin"],
        Some(&demo_run.secret),
    );
    assert_eq!(login.code, 0, "{}", login.stderr);
    let cli = |args: &[&str]| admin(&profiles, &[], args, None);
    sign_up_at(&demo_run.url, "mytenant", "gina");
    let first = |args: &[&str], key: &str| -> String {
        let mut full = vec!["-o", "json"];
        full.extend_from_slice(args);
        json(&cli(&full))[0][key]
            .as_str()
            .unwrap_or_else(|| panic!("{args:?}: an item with {key}"))
            .to_owned()
    };
    let client = first(&["client", "list", "--tenant", "mytenant"], "client_id");
    let account = first(&["account", "list", "--tenant", "mytenant"], "id");
    let app = first(&["app", "list", "--tenant", "contoso"], "client_id");
    let idp = first(&["idp", "list", "--tenant", "contoso"], "id");
    let flow = first(&["userflow", "list", "--tenant", "contoso"], "name");
    cli(&["invitation", "create", "--role", "read-only"]);
    let lists: Vec<Vec<&str>> = vec![
        vec!["tenant", "list"],
        vec!["client", "list", "--tenant", "mytenant"],
        vec!["account", "list", "--tenant", "mytenant"],
        vec![
            "passkey", "list", "--tenant", "mytenant", "--user", &account,
        ],
        vec!["key", "list", "--tenant", "mytenant"],
        vec!["broker-tenant", "list"],
        vec!["app", "list", "--tenant", "contoso"],
        vec!["idp", "list", "--tenant", "contoso"],
        vec!["userflow", "list", "--tenant", "contoso"],
        vec!["userflow", "versions", "--tenant", "contoso", &flow],
        vec!["user", "list", "--tenant", "contoso"],
        vec!["invitation", "list"],
        vec!["token", "list"],
        vec!["audit", "list"],
    ];
    let shows: Vec<Vec<&str>> = vec![
        vec!["tenant", "show", "mytenant"],
        vec!["tenant", "policy", "show", "mytenant"],
        vec!["client", "show", "--tenant", "mytenant", &client],
        vec!["account", "show", "--tenant", "mytenant", &account],
        vec!["broker-tenant", "show", "contoso"],
        vec!["app", "show", "--tenant", "contoso", &app],
        vec!["idp", "show", "--tenant", "contoso", &idp],
        vec!["userflow", "show", "--tenant", "contoso", &flow],
    ];
    for (args, is_list) in lists
        .iter()
        .map(|a| (a, true))
        .chain(shows.iter().map(|a| (a, false)))
    {
        let with = |format: &str| {
            let mut full = vec!["-o", format];
            full.extend_from_slice(args);
            let run = cli(&full);
            assert_eq!(run.code, 0, "{full:?}: {}", run.stderr);
            run.stdout
        };
        let from_json: Value =
            serde_json::from_str(&with("json")).unwrap_or_else(|e| panic!("{args:?}: JSON: {e}"));
        let yaml = with("yaml");
        let from_yaml: Value = serde_yaml_ng::from_str(&yaml)
            .unwrap_or_else(|e| panic!("{args:?}: YAML: {e}\n{yaml}"));
        assert_eq!(
            from_yaml, from_json,
            "{args:?}: the YAML holds the JSON document"
        );
        let empty = from_json == serde_json::json!([]) || from_json == serde_json::json!({});
        assert!(
            empty || !yaml.trim_start().starts_with(['{', '[']),
            "{args:?}: YAML, not JSON: {yaml}"
        );
        let table = with("table");
        if is_list {
            assert!(from_json.is_array(), "{args:?}");
            let header = table.lines().next().unwrap_or_default();
            assert!(
                !header.is_empty() && header == header.to_uppercase(),
                "{args:?}: a header line: {table}"
            );
            let rows = from_json.as_array().map_or(0, Vec::len);
            assert_eq!(
                table.lines().count(),
                rows + 1,
                "{args:?}: one line per item: {table}"
            );
        } else {
            assert!(from_json.is_object(), "{args:?}");
            assert!(
                table.lines().all(|line| line.contains(": ")),
                "{args:?}: key: value lines: {table}"
            );
        }
    }
    demo_run.stop();
}

fn admin_cli_deletes_tenants_and_user_flows_updates_broker_tenants_and_rotates_broker_keys(
    backend: tessera_testkit::Backend,
) {
    let Some(demo_run) = Demo::start(backend) else {
        return;
    };
    let profiles_dir = tempfile::tempdir().expect("dir");
    let profiles = profiles_dir.path().join("admin.json");
    let url = demo_run.url.as_str();
    let secret = demo_run.secret.clone();
    let login = admin(
        &profiles,
        &[],
        &["login", "--url", url, "--bootstrap-stdin"],
        Some(&secret),
    );
    assert_eq!(login.code, 0, "{}", login.stderr);
    let cli = |args: &[&str]| admin(&profiles, &[], args, None);

    // The broker tenant's display name, changed from the version just read.
    let updated = json(&cli(&[
        "-o",
        "json",
        "broker-tenant",
        "update",
        "contoso",
        "--display-name",
        "Contoso Ltd",
    ]));
    assert_eq!(updated["display_name"], "Contoso Ltd");
    assert_eq!(updated["revision"], 2);
    let nothing = cli(&["broker-tenant", "update", "contoso"]);
    assert_eq!(nothing.code, 2, "a usage error: {}", nothing.stderr);
    let blank = cli(&["broker-tenant", "update", "contoso", "--display-name", " "]);
    assert_eq!(blank.code, 6, "a refused value: {}", blank.stderr);
    assert!(blank.stderr.contains("display_name"), "{}", blank.stderr);

    // The broker tenant's signing keys: listed; rotated staged (the new ones published, the old ones still sign),
    // then immediately (the newest sign at once, every other key retired and still listed).
    let list_keys = || {
        json(&cli(&[
            "-o",
            "json",
            "broker-key",
            "list",
            "--tenant",
            "contoso",
        ]))
        .as_array()
        .cloned()
        .unwrap_or_default()
    };
    let rotate = |extra: &[&str]| {
        let mut args = vec!["-o", "json", "broker-key", "rotate", "--tenant", "contoso"];
        args.extend_from_slice(extra);
        let rotated = json(&cli(&args));
        let kids: Vec<String> = rotated["kids"]
            .as_array()
            .map(|k| {
                k.iter()
                    .filter_map(|k| k.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(kids.len(), 2, "{rotated}");
        kids
    };
    assert_eq!(list_keys().len(), 2);
    let staged = rotate(&[]);
    let keys = list_keys();
    assert_eq!(keys.len(), 4, "{keys:?}");
    for key in &keys {
        let new = staged.iter().any(|k| key["kid"] == k.as_str());
        assert_eq!(
            key["status"],
            if new { "pending" } else { "active" },
            "{key}"
        );
    }
    let kids = rotate(&["--immediate"]);
    let keys = list_keys();
    assert_eq!(keys.len(), 6, "{keys:?}");
    for key in &keys {
        let new = kids.iter().any(|k| key["kid"] == k.as_str());
        assert_eq!(
            key["status"],
            if new { "active" } else { "retired" },
            "{key}"
        );
    }
    let table = cli(&["broker-key", "list", "--tenant", "contoso"]);
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert!(table.stdout.contains("retired"), "{}", table.stdout);
    let elsewhere = cli(&["broker-key", "rotate", "--tenant", "nosuch"]);
    assert_eq!(elsewhere.code, 3, "{}", elsewhere.stderr);

    // The tutorial's user flow, deleted with its versions.
    let deleted = cli(&[
        "userflow",
        "delete",
        "--tenant",
        "contoso",
        "B2C_1_signupsignin",
    ]);
    assert_eq!(deleted.code, 0, "{}", deleted.stderr);
    let gone = cli(&[
        "userflow",
        "show",
        "--tenant",
        "contoso",
        "B2C_1_signupsignin",
    ]);
    assert_eq!(gone.code, 3, "{}", gone.stderr);

    // The broker tenant still has its application and identity provider: kept unless forced.
    let refused = cli(&["broker-tenant", "delete", "contoso"]);
    assert_eq!(refused.code, 5, "a conflict: {}", refused.stderr);
    assert!(
        refused.stderr.contains("1 application") && refused.stderr.contains("1 identity provider"),
        "names what remains: {}",
        refused.stderr
    );
    let still = cli(&["broker-tenant", "show", "contoso"]);
    assert_eq!(still.code, 0, "{}", still.stderr);
    let forced = cli(&["broker-tenant", "delete", "contoso", "--force"]);
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    let gone = cli(&["broker-tenant", "show", "contoso"]);
    assert_eq!(gone.code, 3, "{}", gone.stderr);

    // The authenticator tenant holds the broker's client: the same rules; an empty tenant goes without force.
    let refused = cli(&["tenant", "delete", "mytenant"]);
    assert_eq!(refused.code, 5, "a conflict: {}", refused.stderr);
    assert!(refused.stderr.contains("client"), "{}", refused.stderr);
    let forced = cli(&["tenant", "delete", "mytenant", "--force"]);
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    let gone = cli(&["tenant", "show", "mytenant"]);
    assert_eq!(gone.code, 3, "{}", gone.stderr);
    let origin = url.to_owned();
    let made = cli(&[
        "tenant",
        "create",
        "--id",
        "empty",
        "--rp-id",
        "localhost",
        "--origin",
        &origin,
    ]);
    assert_eq!(made.code, 0, "{}", made.stderr);
    let deleted = cli(&["tenant", "delete", "empty"]);
    assert_eq!(deleted.code, 0, "{}", deleted.stderr);

    // Each change is in the audit trail.
    let events = json(&cli(&["-o", "json", "audit", "list", "--all"]));
    let actions: Vec<&str> = events
        .as_array()
        .map(|e| e.iter().filter_map(|e| e["action"].as_str()).collect())
        .unwrap_or_default();
    for action in [
        "broker.tenant.update",
        "broker.tenant.keys.rotate",
        "broker.user_flow.delete",
        "broker.tenant.delete.force",
        "tenant.delete.force",
        "tenant.delete",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    demo_run.stop();
}

fn admin_cli_updates_clients_providers_and_flows_and_reads_versions_and_fido_metadata(
    backend: tessera_testkit::Backend,
) {
    let Some(demo_run) = Demo::start(backend) else {
        return;
    };
    let profiles_dir = tempfile::tempdir().expect("dir");
    let profiles = profiles_dir.path().join("admin.json");
    let url = demo_run.url.as_str();
    let secret = demo_run.secret.clone();
    let login = admin(
        &profiles,
        &[],
        &["login", "--url", url, "--bootstrap-stdin"],
        Some(&secret),
    );
    assert_eq!(login.code, 0, "{}", login.stderr);
    let cli = |args: &[&str]| admin(&profiles, &[], args, None);

    // `client update` (PATCH from the version just read) and `client secret` (a new one, printed once).
    let issued = json(&cli(&[
        "-o",
        "json",
        "client",
        "create",
        "--tenant",
        "mytenant",
        "--redirect-uri",
        "https://rp.example/cb",
        "--name",
        "Web shop",
    ]));
    let client_id = issued["client"]["client_id"]
        .as_str()
        .expect("client id")
        .to_owned();
    let first_secret = issued["client_secret"].as_str().expect("secret").to_owned();
    let updated = json(&cli(&[
        "-o",
        "json",
        "client",
        "update",
        "--tenant",
        "mytenant",
        &client_id,
        "--name",
        "Web shop 2",
        "--redirect-uri",
        "https://rp.example/cb2",
        "--post-logout-redirect-uri",
        "https://rp.example/bye",
    ]));
    assert_eq!(updated["name"], "Web shop 2", "{updated}");
    assert_eq!(
        updated["redirect_uris"],
        serde_json::json!(["https://rp.example/cb2"])
    );
    assert_eq!(
        updated["post_logout_redirect_uris"],
        serde_json::json!(["https://rp.example/bye"])
    );
    let kept = json(&cli(&[
        "-o",
        "json",
        "client",
        "update",
        "--tenant",
        "mytenant",
        &client_id,
        "--clear-post-logout-redirect-uris",
    ]));
    assert_eq!(kept["name"], "Web shop 2", "what is not given is kept");
    assert_eq!(kept["post_logout_redirect_uris"], serde_json::json!([]));
    let nothing = cli(&["client", "update", "--tenant", "mytenant", &client_id]);
    assert_eq!(nothing.code, 2, "a usage error: {}", nothing.stderr);
    let refused = cli(&[
        "client",
        "update",
        "--tenant",
        "mytenant",
        &client_id,
        "--redirect-uri",
        "http://rp.example/cb",
    ]);
    assert_eq!(refused.code, 6, "a refused value: {}", refused.stderr);
    assert!(
        refused.stderr.contains("redirect_uris"),
        "{}",
        refused.stderr
    );
    let missing = cli(&[
        "client", "update", "--tenant", "mytenant", "nosuch", "--name", "x",
    ]);
    assert_eq!(missing.code, 3, "{}", missing.stderr);
    let renewed = json(&cli(&[
        "-o", "json", "client", "secret", "--tenant", "mytenant", &client_id,
    ]));
    let second_secret = renewed["client_secret"].as_str().expect("new secret");
    assert_ne!(second_secret, first_secret);
    let shown = cli(&[
        "-o", "json", "client", "show", "--tenant", "mytenant", &client_id,
    ]);
    assert!(!shown.stdout.contains(second_secret), "printed once only");

    // `idp test`: a metadata URL alone, or a stored provider's configuration.
    let metadata_url = format!("{url}/mytenant/oidc/.well-known/openid-configuration");
    let tested = json(&cli(&[
        "-o",
        "json",
        "idp",
        "test",
        "--tenant",
        "contoso",
        "--metadata-url",
        &metadata_url,
    ]));
    assert_eq!(tested["ok"], true, "{tested}");
    assert_eq!(tested["issuer"], format!("{url}/mytenant/oidc"));
    let stored = json(&cli(&[
        "-o", "json", "idp", "test", "--tenant", "contoso", "--id", "noknok",
    ]));
    assert_eq!(stored["ok"], true, "{stored}");
    let broken = cli(&[
        "idp",
        "test",
        "--tenant",
        "contoso",
        "--metadata-url",
        &format!("{url}/nosuch/oidc/.well-known/openid-configuration"),
    ]);
    assert_eq!(broken.code, 6, "{}", broken.stderr);
    assert!(broken.stderr.contains("metadata_url"), "{}", broken.stderr);

    // `idp update`: the connection changed from the version read, the stored secret kept.
    let before = json(&cli(&[
        "-o", "json", "idp", "show", "--tenant", "contoso", "noknok",
    ]));
    let renamed = json(&cli(&[
        "-o",
        "json",
        "idp",
        "update",
        "--tenant",
        "contoso",
        "noknok",
        "--name",
        "Nok Nok (renamed)",
        "--scope",
        "openid email",
    ]));
    assert_eq!(renamed["name"], "Nok Nok (renamed)", "{renamed}");
    assert_eq!(renamed["scope"], "openid email");
    assert_eq!(renamed["has_client_secret"], true, "the secret is kept");
    assert_eq!(renamed["claim_mapping"], before["claim_mapping"]);
    assert_eq!(renamed["metadata_url"], before["metadata_url"]);
    let unusable = cli(&[
        "idp",
        "update",
        "--tenant",
        "contoso",
        "noknok",
        "--metadata-url",
        &format!("{url}/nosuch/oidc/.well-known/openid-configuration"),
    ]);
    assert_eq!(unusable.code, 6, "{}", unusable.stderr);
    let unchanged = json(&cli(&[
        "-o", "json", "idp", "show", "--tenant", "contoso", "noknok",
    ]));
    assert_eq!(
        unchanged["metadata_url"], before["metadata_url"],
        "nothing saved"
    );
    let nothing = cli(&["idp", "update", "--tenant", "contoso", "noknok"]);
    assert_eq!(nothing.code, 2, "{}", nothing.stderr);

    // `userflow update` makes a new version; `userflow version` shows one, the old one unchanged.
    let flow = json(&cli(&[
        "-o",
        "json",
        "userflow",
        "update",
        "--tenant",
        "contoso",
        "B2C_1_signupsignin",
        "--mfa",
        "always",
        "--conditional-access",
        "true",
    ]));
    assert_eq!(flow["current_version"], 2, "{flow}");
    assert_eq!(flow["settings"]["mfa"], "always");
    assert_eq!(flow["settings"]["conditional_access"]["enforced"], true);
    assert_eq!(
        flow["settings"]["identity_providers"],
        serde_json::json!(["noknok"]),
        "what is not given is kept"
    );
    let first = json(&cli(&[
        "-o",
        "json",
        "userflow",
        "version",
        "--tenant",
        "contoso",
        "signupsignin",
        "1",
    ]));
    assert_eq!(first["number"], 1, "{first}");
    assert_eq!(first["settings"]["mfa"], "off");
    let second = json(&cli(&[
        "-o",
        "json",
        "userflow",
        "version",
        "--tenant",
        "contoso",
        "signupsignin",
        "2",
    ]));
    assert_eq!(second["settings"]["mfa"], "always");
    let none = cli(&[
        "userflow",
        "version",
        "--tenant",
        "contoso",
        "signupsignin",
        "9",
    ]);
    assert_eq!(none.code, 3, "{}", none.stderr);
    let unknown = cli(&[
        "userflow",
        "update",
        "--tenant",
        "contoso",
        "signupsignin",
        "--idp",
        "nobody",
    ]);
    assert_eq!(unknown.code, 6, "{}", unknown.stderr);
    assert!(
        unknown.stderr.contains("identity_providers"),
        "{}",
        unknown.stderr
    );
    let nothing = cli(&["userflow", "update", "--tenant", "contoso", "signupsignin"]);
    assert_eq!(nothing.code, 2, "{}", nothing.stderr);

    // `fido-metadata show` and `list`: what the API reports, in each format.
    let summary = json(&cli(&["-o", "json", "fido-metadata", "show"]));
    assert!(summary["loaded"].is_boolean(), "{summary}");
    assert!(
        summary.get("models").is_none(),
        "the summary leaves the models to `list`"
    );
    let models = json(&cli(&["-o", "json", "fido-metadata", "list"]));
    assert!(models.is_array(), "{models}");
    let table = cli(&["fido-metadata", "list", "--search", "no such model"]);
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert!(table.stdout.contains("AAGUID"), "{}", table.stdout);
    let yaml = cli(&["-o", "yaml", "fido-metadata", "show"]);
    assert_eq!(yaml.code, 0, "{}", yaml.stderr);
    assert!(yaml.stdout.contains("loaded:"), "{}", yaml.stdout);
    demo_run.stop();
}

/// `--tenant broker:T` and `--tenant authenticator:T` on `token create` and `invitation create`: the token sees that
/// role's tenant only (the other role's tenant of the same id is exit 3, not found), the invitation keeps its scope,
/// and a bad role prefix is exit 6 naming the field.
fn admin_cli_scopes_tokens_and_invitations_to_one_roles_tenant(backend: tessera_testkit::Backend) {
    let Some(demo_run) = Demo::start(backend) else {
        return;
    };
    let profiles_dir = tempfile::tempdir().expect("dir");
    let profiles = profiles_dir.path().join("admin.json");
    let url = demo_run.url.as_str();
    let login = admin(
        &profiles,
        &[],
        &["login", "--url", url, "--bootstrap-stdin"],
        Some(&demo_run.secret),
    );
    assert_eq!(login.code, 0, "{}", login.stderr);
    let cli = |args: &[&str]| admin(&profiles, &[], args, None);
    // A broker tenant with the id of the authenticator tenant `mytenant`.
    let made = cli(&["broker-tenant", "create", "--id", "mytenant"]);
    assert_eq!(made.code, 0, "{}", made.stderr);
    let token_for = |scope: &str| -> String {
        let issued = json(&cli(&[
            "-o",
            "json",
            "token",
            "create",
            "--name",
            scope,
            "--role",
            "tenant-admin",
            "--tenant",
            scope,
        ]));
        assert_eq!(
            issued["token"]["tenants"],
            serde_json::json!([scope]),
            "{issued}"
        );
        issued["secret"].as_str().expect("secret").to_owned()
    };
    for (scope, broker_code, authenticator_code) in
        [("broker:mytenant", 0, 3), ("authenticator:mytenant", 3, 0)]
    {
        let secret = token_for(scope);
        let with = |args: &[&str]| {
            let mut all = vec!["--url", url];
            all.extend_from_slice(args);
            admin(
                &profiles,
                &[("TESSERA_ADMIN_TOKEN", secret.as_str())],
                &all,
                None,
            )
        };
        let broker = with(&["broker-tenant", "show", "mytenant"]);
        assert_eq!(broker.code, broker_code, "{scope}: {}", broker.stderr);
        let authenticator = with(&["tenant", "show", "mytenant"]);
        assert_eq!(
            authenticator.code, authenticator_code,
            "{scope}: {}",
            authenticator.stderr
        );
        let clients = with(&["client", "list", "--tenant", "mytenant"]);
        assert_eq!(
            clients.code, authenticator_code,
            "{scope}: {}",
            clients.stderr
        );
    }
    let bad = cli(&[
        "token",
        "create",
        "--name",
        "bad",
        "--role",
        "tenant-admin",
        "--tenant",
        "brokr:mytenant",
    ]);
    assert_eq!(bad.code, 6, "{}", bad.stderr);
    assert!(bad.stderr.contains("tenants[0]"), "{}", bad.stderr);
    let invited = json(&cli(&[
        "-o",
        "json",
        "invitation",
        "create",
        "--role",
        "tenant-admin",
        "--tenant",
        "broker:mytenant",
    ]));
    assert_eq!(
        invited["tenants"],
        serde_json::json!(["broker:mytenant"]),
        "{invited}"
    );
    let bad = cli(&[
        "invitation",
        "create",
        "--role",
        "tenant-admin",
        "--tenant",
        "broker:Not A Tenant",
    ]);
    assert_eq!(bad.code, 6, "{}", bad.stderr);
    assert!(bad.stderr.contains("tenants[0]"), "{}", bad.stderr);
}
