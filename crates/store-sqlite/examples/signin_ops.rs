//! Measures the store's share of a passkey sign-in on SQLite: the statements one complete sign-in issues
//! (authorize → challenge → assertion → session → code → token), run back to back, reported per CPU-second of the
//! whole process (sqlx runs SQLite on its own worker threads, so wall time alone would hide work).
//!
//! `cargo run --release -p tessera-store-sqlite --example signin_ops -- [SIGN_INS] [CONCURRENCY]`

use std::sync::Arc;
use std::time::Instant;
use tessera_core::{ClientId, TenantId, UserId};
use tessera_store::{
    AccessToken, AuthCode, Client, Credential, Session, SignCountUpdate, Store, Tenant, User,
};
use tessera_store_sqlite::SqliteStore;
use time::{Duration, OffsetDateTime};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// User plus system CPU time of this process, in seconds (Linux `/proc/self/stat`, clock ticks of 1/100 s).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

async fn sign_in(
    store: &dyn Store,
    tenant: &TenantId,
    client: &ClientId,
    n: u64,
    worker: u64,
) -> Result<(), Error> {
    let now = OffsetDateTime::now_utc();
    let soon = now + Duration::minutes(5);
    let tag = format!("{worker}-{n}");
    // Authorize: client lookup, pending request stored, read back after the passkey step.
    store.get_client(tenant, client).await?.ok_or("client")?;
    store
        .put_ceremony(
            tenant,
            &format!("authz-{tag}"),
            "authorize",
            vec![1; 300],
            soon,
        )
        .await?;
    // Passkey challenge issued and consumed.
    store
        .put_ceremony(
            tenant,
            &format!("ch-{tag}"),
            "webauthn.get",
            vec![2; 64],
            soon,
        )
        .await?;
    store
        .take_ceremony(tenant, &format!("ch-{tag}"), "webauthn.get", now)
        .await?
        .ok_or("challenge")?;
    // Assertion: credential and user, counter bump.
    let credential_id = format!("cred-{worker}").into_bytes();
    let credential = store
        .get_credential(tenant, &credential_id)
        .await?
        .ok_or("credential")?;
    store
        .get_user(tenant, &credential.user_id)
        .await?
        .ok_or("user")?;
    let bumped = store
        .bump_sign_count(
            tenant,
            &credential_id,
            credential.sign_count,
            credential.sign_count + 1,
            false,
            now,
        )
        .await?;
    if bumped != SignCountUpdate::Updated {
        return Err("sign count".into());
    }
    // Session, then the pending request consumed and a code issued.
    let session = Session {
        id_hash: format!("session-{tag}").into_bytes(),
        tenant: tenant.clone(),
        user_id: credential.user_id.clone(),
        auth_time: now,
        amr: vec!["hwk".into(), "user".into()],
        acr: "phr".into(),
        expires_at: now + Duration::hours(8),
    };
    store.create_session(&session).await?;
    store
        .take_ceremony(tenant, &format!("authz-{tag}"), "authorize", now)
        .await?
        .ok_or("authz")?;
    let code_hash = format!("code-{tag}").into_bytes();
    store
        .put_auth_code(&AuthCode {
            code_hash: code_hash.clone(),
            tenant: tenant.clone(),
            client_id: client.clone(),
            grant_id: format!("grant-{tag}"),
            payload: vec![3; 300],
            expires_at: now + Duration::minutes(1),
        })
        .await?;
    // Token endpoint: client, code, user, access token.
    store.get_client(tenant, client).await?.ok_or("client")?;
    store.consume_auth_code(tenant, &code_hash, now).await?;
    store
        .get_user(tenant, &credential.user_id)
        .await?
        .ok_or("user")?;
    store
        .put_access_token(&AccessToken {
            token_hash: format!("at-{tag}").into_bytes(),
            tenant: tenant.clone(),
            client_id: client.clone(),
            grant_id: format!("grant-{tag}"),
            user_id: credential.user_id,
            scope: "openid profile".into(),
            payload: vec![4; 200],
            expires_at: now + Duration::hours(1),
        })
        .await?;
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let total: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(5_000);
    let concurrency: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(8);
    let dir = std::env::temp_dir().join(format!("tessera-signin-ops-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let store = Arc::new(SqliteStore::open(&dir.join("bench.db")).await?);

    let now = OffsetDateTime::now_utc();
    let tenant = TenantId::parse("bench")?;
    let client = ClientId::parse("app")?;
    store
        .create_tenant(&Tenant {
            id: tenant.clone(),
            display_name: "Bench".into(),
            rp_id: "localhost".into(),
            origins: vec!["http://localhost".into()],
            policy: serde_json::json!({}),
            created_at: now,
        })
        .await?;
    store
        .create_client(&Client {
            tenant: tenant.clone(),
            client_id: client.clone(),
            display_name: "Bench".into(),
            secret_hash: Some(vec![0; 32]),
            redirect_uris: vec!["http://localhost/cb".into()],
            post_logout_redirect_uris: vec![],
            token_endpoint_auth_method: "client_secret_basic".into(),
            id_token_signed_response_alg: "ES256".into(),
            jwks: None,
            allowed_scopes: vec!["openid".into()],
            created_at: now,
        })
        .await?;
    for worker in 0..concurrency {
        let user_id = UserId::parse(&format!("user-{worker}"))?;
        let user = User {
            tenant: tenant.clone(),
            id: user_id.clone(),
            username: format!("user{worker}"),
            display_name: "Bench user".into(),
            email: None,
            email_verified: false,
            user_handle: format!("handle-{worker}").into_bytes(),
            created_at: now,
        };
        let credential = Credential {
            tenant: tenant.clone(),
            credential_id: format!("cred-{worker}").into_bytes(),
            user_id,
            public_key: vec![0; 77],
            alg: -7,
            sign_count: 0,
            uv_initialized: true,
            backup_eligible: false,
            backup_state: false,
            transports: vec!["usb".into()],
            aaguid: [0; 16],
            attestation_format: "none".into(),
            nickname: "key".into(),
            created_at: now,
            last_used_at: None,
        };
        store
            .create_user_with_credential(&user, &credential)
            .await?;
    }

    let per_worker = total / concurrency.max(1);
    let (cpu0, wall0) = (cpu_seconds(), Instant::now());
    let mut workers = Vec::new();
    for worker in 0..concurrency {
        let store = Arc::clone(&store);
        let (tenant, client) = (tenant.clone(), client.clone());
        workers.push(tokio::spawn(async move {
            for n in 0..per_worker {
                sign_in(&*store, &tenant, &client, n, worker).await?;
            }
            Ok::<(), Error>(())
        }));
    }
    for worker in workers {
        worker.await??;
    }
    let (cpu, wall) = (cpu_seconds() - cpu0, wall0.elapsed().as_secs_f64());
    let done = per_worker * concurrency;
    println!(
        "{done} sign-ins (14 store operations each) in {wall:.2} s wall, {cpu:.2} s CPU: \
         {:.0} sign-ins/s, {:.0} sign-ins per CPU-second",
        done as f64 / wall,
        done as f64 / cpu.max(0.01)
    );
    store.close().await;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
