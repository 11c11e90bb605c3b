//! The store work of complete passkey sign-ins, for load measurements of a backend without HTTP (the `signin_ops`
//! and `signin_ops_pg` examples of this crate): authorize → challenge → assertion → sign-in record (counter and
//! session) → code → token, 13 operations per sign-in. Depends on `tessera_store` only.

use std::sync::Arc;
use std::time::Instant;
use tessera_core::{ClientId, TenantId, UserId};
use tessera_store::prelude::*;
use tessera_store::{
    AccessToken, AuthCode, Client, Credential, GrantPasskey, Session, SignCountBump,
    SignCountRegression, SignCountUpdate, StoreError, Tenant, User,
};
use time::{Duration, OffsetDateTime};

/// Store operations one simulated sign-in performs.
pub const OPERATIONS_PER_SIGN_IN: u64 = 13;

/// What a load run measured.
#[derive(Debug, Clone, Copy)]
pub struct Report {
    /// Sign-ins completed.
    pub sign_ins: u64,
    /// Elapsed wall-clock seconds.
    pub wall_seconds: f64,
    /// User plus system CPU seconds of this process (0 where `/proc/self/stat` is unavailable).
    pub cpu_seconds: f64,
}

/// User plus system CPU time of this process, in seconds (Linux `/proc/self/stat`, clock ticks of 1/100 s).
pub fn process_cpu_seconds() -> f64 {
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

fn parse<T, E: std::fmt::Display>(result: Result<T, E>) -> Result<T, StoreError> {
    result.map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Creates the `bench` tenant, its `app` client, and one user with one credential per concurrent worker.
pub async fn seed(store: &dyn Store, workers: u64) -> Result<(TenantId, ClientId), StoreError> {
    let now = OffsetDateTime::now_utc();
    let tenant = parse(TenantId::parse("bench"))?;
    let client = parse(ClientId::parse("app"))?;
    store
        .create_tenant_with_keys(
            &Tenant {
                id: tenant.clone(),
                display_name: "Bench".into(),
                rp_id: "localhost".into(),
                origins: vec!["http://localhost".into()],
                policy: serde_json::json!({}),
                created_at: now,
                revision: Tenant::FIRST_REVISION,
                settings: serde_json::json!({}),
            },
            &[],
        )
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
    for worker in 0..workers {
        let user_id = parse(UserId::parse(&format!("user-{worker}")))?;
        let user = User {
            tenant: tenant.clone(),
            id: user_id.clone(),
            username: format!("user{worker}"),
            display_name: "Bench user".into(),
            email: None,
            email_verified: false,
            user_handle: format!("handle-{worker}").into_bytes(),
            created_at: now,
            disabled_at: None,
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
            attestation_trusted: false,
            nickname: "key".into(),
            created_at: now,
            last_used_at: None,
        };
        store
            .create_user_with_credential(&user, &credential)
            .await?;
    }
    Ok((tenant, client))
}

/// One sign-in's store operations, as worker `worker` (whose credential [`seed`] created) for the `n`th time.
/// A value that should be there and is not is `NotFound`; a counter that does not move is `Conflict`.
pub async fn sign_in(
    store: &dyn Store,
    tenant: &TenantId,
    client: &ClientId,
    worker: u64,
    n: u64,
) -> Result<(), StoreError> {
    let now = OffsetDateTime::now_utc();
    let soon = now + Duration::minutes(5);
    let tag = format!("{worker}-{n}");
    let (authz, challenge) = (format!("authz-{tag}"), format!("ch-{tag}"));
    // Authorize: client lookup, the pending request stored until the passkey step is done.
    store
        .get_client(tenant, client)
        .await?
        .ok_or(StoreError::NotFound)?;
    store
        .put_ceremony(tenant, &authz, "authorize", vec![1; 300], soon, now)
        .await?;
    // Passkey challenge issued and consumed.
    store
        .put_ceremony(tenant, &challenge, "webauthn.get", vec![2; 64], soon, now)
        .await?;
    store
        .take_ceremony(tenant, &challenge, "webauthn.get", now)
        .await?
        .ok_or(StoreError::NotFound)?;
    // Assertion: credential and user, counter bump.
    let credential_id = format!("cred-{worker}").into_bytes();
    let credential = store
        .get_credential(tenant, &credential_id)
        .await?
        .ok_or(StoreError::NotFound)?;
    store
        .get_user(tenant, &credential.user_id)
        .await?
        .ok_or(StoreError::NotFound)?;
    let next = credential.sign_count.saturating_add(1);
    let bump = SignCountBump {
        credential_id,
        expected_old: credential.sign_count,
        new: next,
        backup_state: false,
        used_at: now,
    };
    let session = Session {
        id_hash: format!("session-{tag}").into_bytes(),
        tenant: tenant.clone(),
        sid: format!("sid-{tag}"),
        user_id: credential.user_id.clone(),
        auth_time: now,
        user_verified: true,
        backup_eligible: false,
        attestation_trusted: false,
        credential_id: Some(credential.credential_id.clone()),
        last_seen_at: now,
        expires_at: now + Duration::hours(8),
    };
    // The counter bump and the session, in one transaction.
    let bumped = store
        .record_sign_in(&bump, SignCountRegression::Refuse, None, &session)
        .await?;
    if bumped != SignCountUpdate::Updated {
        return Err(StoreError::Conflict);
    }
    // The pending request consumed and a code issued.
    store
        .take_ceremony(tenant, &authz, "authorize", now)
        .await?
        .ok_or(StoreError::NotFound)?;
    let code_hash = format!("code-{tag}").into_bytes();
    let grant_id = format!("grant-{tag}");
    let passkey = GrantPasskey {
        credential_id: credential.credential_id.clone(),
        granted_at: now,
    };
    store
        .put_auth_code(&AuthCode {
            code_hash: code_hash.clone(),
            tenant: tenant.clone(),
            client_id: client.clone(),
            grant_id: grant_id.clone(),
            payload: vec![3; 300],
            expires_at: now + Duration::minutes(1),
            passkey: Some(passkey.clone()),
        })
        .await?;
    // Token endpoint: client, code, user, access token.
    store
        .get_client(tenant, client)
        .await?
        .ok_or(StoreError::NotFound)?;
    store.consume_auth_code(tenant, &code_hash, now).await?;
    store
        .get_user(tenant, &credential.user_id)
        .await?
        .ok_or(StoreError::NotFound)?;
    store
        .put_access_token(&AccessToken {
            token_hash: format!("at-{tag}").into_bytes(),
            tenant: tenant.clone(),
            client_id: client.clone(),
            grant_id,
            user_id: credential.user_id,
            scope: "openid profile".into(),
            payload: vec![4; 200],
            expires_at: now + Duration::hours(1),
            passkey: Some(passkey),
        })
        .await?;
    Ok(())
}

/// Seeds `store`, then runs `total` sign-ins over `concurrency` tasks and reports throughput.
pub async fn run(
    store: Arc<dyn Store>,
    total: u64,
    concurrency: u64,
) -> Result<Report, StoreError> {
    let concurrency = concurrency.max(1);
    let (tenant, client) = seed(&*store, concurrency).await?;
    let per_worker = total / concurrency;
    let (cpu_start, wall_start) = (process_cpu_seconds(), Instant::now());
    let mut workers = Vec::new();
    for worker in 0..concurrency {
        let store = Arc::clone(&store);
        let (tenant, client) = (tenant.clone(), client.clone());
        workers.push(tokio::spawn(async move {
            for n in 0..per_worker {
                sign_in(&*store, &tenant, &client, worker, n).await?;
            }
            Ok::<(), StoreError>(())
        }));
    }
    for worker in workers {
        worker
            .await
            .map_err(|e| StoreError::Unavailable(format!("load task: {e}")))??;
    }
    Ok(Report {
        sign_ins: per_worker * concurrency,
        wall_seconds: wall_start.elapsed().as_secs_f64(),
        cpu_seconds: process_cpu_seconds() - cpu_start,
    })
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let per = |seconds: f64| self.sign_ins as f64 / seconds.max(0.001);
        write!(
            f,
            "{} sign-ins ({OPERATIONS_PER_SIGN_IN} store operations each) in {:.2} s wall, {:.2} s CPU of this \
             process: {:.0} sign-ins/s, {:.0} sign-ins per CPU-second",
            self.sign_ins,
            self.wall_seconds,
            self.cpu_seconds,
            per(self.wall_seconds),
            per(self.cpu_seconds)
        )
    }
}
