//! Local accounts of a user flow, passwordless: an email address verified with a one-time code, and a passkey
//! registered with the broker itself (the broker as WebAuthn relying party: RP ID the host of its public URL, the
//! origin of that URL).
//!
//! **Sign-up** ([`send_code`] → [`verify_code`] → [`finish_registration`] → the attribute page of
//! [`super::signup`]): the choice page's email form; a 6-digit code mailed to the address, kept as SHA-256 of the
//! page's secret handle and the code (never the code itself), for [`CODE_LIFETIME`], [`CODE_ATTEMPTS`] tries,
//! single use, compared in constant time; sends limited per address and per email ([`SEND_LIMITS`]); then the
//! passkey's creation options (a discoverable credential, the user handle random) and its verification; then the
//! attribute page, prefilled with the verified address. The user, their local identity `{local_issuer(tenant),
//! object id}`, the passkey, the session and the app's code are written in one store transaction at the end
//! (`sign_up_local_user`), so a sign-up abandoned at any step leaves no row.
//!
//! **Sign-in** ([`passkey_options`] → [`finish_passkey_sign_in`]): a discoverable passkey, no username; the user is
//! found by the credential id and the assertion's user handle, the counter checked and moved, and the flow's access
//! rules applied to `amr` (`pop`, `hwk`/`swk`, `user`, `mfa` with UV: phishing-resistant).
//!
//! Every step is bound to the browser that started it (SHA-256 of its CSRF token) and consumes its transaction
//! (`take_broker_transaction`): a replayed challenge or code finds nothing.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};
use tessera_broker::claims::{
    UpstreamProfile, attribute_fields, evaluate_access, is_valid_email, local_issuer, passkey_amr,
};
use tessera_broker::config::{FlowSettings, LocalAccounts, MfaSetting, ProviderId};
use tessera_core::TenantId;
use tessera_oidc::ErrorCode;
use tessera_store::LocalCredential;
use tessera_webauthn::attestation::AttestationTrust;
use tessera_webauthn::authentication::{
    AuthenticationExpectation, CredentialRecord, UserIdentification,
};
use tessera_webauthn::json::{
    AuthenticatorTransport, PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialDescriptor,
    PublicKeyCredentialRequestOptionsJSON, ResidentKeyRequirement, UserEntity,
    UserVerificationRequirement,
};
use tessera_webauthn::{
    AuthenticationResponseJSON, AuthenticatorPolicy, Base64UrlBytes, CoseAlgorithm, Mediation,
    OriginPolicy, RegistrationExpectation, RegistrationResponseJSON, generate_challenge,
    verify_authentication, verify_registration,
};
use time::{Duration, OffsetDateTime};

use super::mail::Mailer;
use super::session::{self, SignedIn};
use super::signin::{
    AppRequest, BrokerContext, PendingSignup, SignInError, SignInStep, Transaction,
    put_transaction_until, refuse, settings_of, take_transaction,
};
use crate::error::ServiceError;
use crate::handles::{random_token, sha256};

/// How long a one-time code may be entered.
pub const CODE_LIFETIME: Duration = Duration::minutes(10);
/// How many wrong codes end the attempt.
pub const CODE_ATTEMPTS: u32 = 5;
/// How long a passkey challenge may be answered.
pub const CHALLENGE_LIFETIME: Duration = Duration::minutes(5);
/// The window of the code-send limits.
pub const SEND_WINDOW: Duration = Duration::hours(1);
/// Codes sent per window: (per client address, per email address).
pub const SEND_LIMITS: (u32, u32) = (20, 5);

/// The algorithms offered for a local account's passkey, in order of preference.
const ALGORITHMS: [CoseAlgorithm; 3] = [
    CoseAlgorithm::Es256,
    CoseAlgorithm::EdDsa,
    CoseAlgorithm::Rs256,
];

/// A local account's passkey, verified, waiting for the attribute page (what the store will keep).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LocalPasskey {
    credential_id: String,
    user_handle: String,
    public_key: String,
    alg: i64,
    sign_count: u32,
    uv_initialized: bool,
    backup_eligible: bool,
    backup_state: bool,
    transports: Vec<String>,
}

impl LocalPasskey {
    /// The store record for the new user `object_id`.
    pub(crate) fn record(
        &self,
        tenant: &TenantId,
        object_id: &tessera_core::UserId,
        now: OffsetDateTime,
    ) -> Result<LocalCredential, ServiceError> {
        let bytes = |text: &str| {
            B64.decode(text)
                .map_err(|e| ServiceError::Corrupt(format!("pending passkey: {e}")))
        };
        Ok(LocalCredential {
            tenant: tenant.clone(),
            credential_id: bytes(&self.credential_id)?,
            object_id: object_id.clone(),
            user_handle: bytes(&self.user_handle)?,
            public_key: bytes(&self.public_key)?,
            alg: self.alg,
            sign_count: self.sign_count,
            uv_initialized: self.uv_initialized,
            backup_eligible: self.backup_eligible,
            backup_state: self.backup_state,
            transports: self.transports.clone(),
            created_at: now,
            last_used_at: None,
        })
    }
}

/// The code page's content.
#[derive(Debug, Clone)]
pub struct CodePage {
    /// The handle the form sends back.
    pub handle: String,
    /// The application's display name.
    pub application_name: String,
    /// Where the code was sent.
    pub email: String,
    /// What was wrong with the last code, if anything.
    pub error: Option<String>,
}

/// The passkey registration page's content.
#[derive(Debug, Clone)]
pub struct RegisterPage {
    /// The handle the form sends back.
    pub handle: String,
    /// The application's display name.
    pub application_name: String,
    /// The verified address (the passkey's name at the authenticator).
    pub email: String,
    /// The creation options, in the WebAuthn JSON serialization.
    pub options: PublicKeyCredentialCreationOptionsJSON,
    /// The origin of the app's reply URL: a flow that collects nothing answers the form with a redirect there.
    pub reply_origin: Option<String>,
}

/// Sign-in options for the choice page's "Sign in with a passkey".
#[derive(Debug)]
pub struct PasskeyOptions {
    /// The ceremony handle the form sends back.
    pub ceremony: String,
    /// The request options, in the WebAuthn JSON serialization.
    pub options: PublicKeyCredentialRequestOptionsJSON,
}

/// The relying party of a broker's local accounts: the host of its public URL and that URL's origin.
fn relying_party(base: &str) -> Result<(String, String), ServiceError> {
    let url =
        url::Url::parse(base).map_err(|e| ServiceError::Internal(format!("public URL: {e}")))?;
    let host = url
        .host_str()
        .ok_or_else(|| ServiceError::Internal("public URL without a host".into()))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    Ok((host, url.origin().ascii_serialization()))
}

/// User verification per flow: required when the flow always requires multi-factor (a verified passkey is two
/// factors), preferred otherwise.
fn user_verification(settings: &FlowSettings) -> UserVerificationRequirement {
    if settings.mfa == MfaSetting::Always {
        UserVerificationRequirement::Required
    } else {
        UserVerificationRequirement::Preferred
    }
}

fn policy_for(settings: &FlowSettings) -> AuthenticatorPolicy {
    AuthenticatorPolicy {
        user_verification: user_verification(settings),
        algorithms: ALGORITHMS.iter().map(|a| a.id()).collect(),
        ..AuthenticatorPolicy::default()
    }
}

fn offers_local(settings: &FlowSettings) -> bool {
    settings.local_accounts != LocalAccounts::None
}

fn binding_matches(expected_b64: &str, actual: &[u8]) -> bool {
    B64.decode(expected_b64).is_ok_and(|expected| {
        aws_lc_rs::constant_time::verify_slices_are_equal(&expected, actual).is_ok()
    })
}

/// A uniformly random 6-digit code.
fn new_code() -> Result<String, ServiceError> {
    loop {
        let mut bytes = [0u8; 4];
        aws_lc_rs::rand::fill(&mut bytes).map_err(|_| ServiceError::Random)?;
        let n = u32::from_be_bytes(bytes);
        // Rejection sampling: 4_294_000_000 is the largest multiple of 10^6 below 2^32.
        if n < 4_294_000_000 {
            return Ok(format!("{:06}", n % 1_000_000));
        }
    }
}

/// SHA-256 of the page's handle and the code: without the handle (which the store keeps only hashed) the stored
/// value cannot be searched for the code.
fn code_digest(handle: &str, code: &str) -> Vec<u8> {
    let mut input = handle.as_bytes().to_vec();
    input.push(0);
    input.extend_from_slice(code.as_bytes());
    sha256(&input)
}

/// The choice page again, under a fresh handle, with a message for the local-account form.
pub(crate) async fn choice_again(
    ctx: BrokerContext<'_>,
    tenant: &TenantId,
    app: AppRequest,
    binding: &[u8],
    email: Option<String>,
    error: Option<String>,
) -> Result<SignInStep, SignInError> {
    let settings = settings_of(ctx, tenant, &app).await?;
    let mut page = super::signin::choice_page(
        ctx,
        tenant,
        app,
        &settings,
        binding,
        settings.identity_providers.clone(),
    )
    .await?;
    page.email = email.unwrap_or_default();
    page.local_error = error;
    Ok(SignInStep::Choose(page))
}

/// The client address and email address a code send is counted for.
#[derive(Debug, Clone, Copy)]
pub struct SendCode<'a> {
    /// The choice page's handle.
    pub handle: &'a str,
    /// SHA-256 of the browser's CSRF token.
    pub binding: &'a [u8],
    /// The address typed.
    pub email: &'a str,
    /// The client's address (for the per-address limit).
    pub client: &'a str,
}

/// The choice page's "Sign up with email": checks the address, counts the send against the limits, mails a
/// one-time code and shows the code page. Nothing is written but the transaction.
pub async fn send_code(
    ctx: BrokerContext<'_>,
    mailer: Option<&Mailer>,
    tenant: &TenantId,
    send: SendCode<'_>,
) -> Result<SignInStep, SignInError> {
    let Some(Transaction::Choice { app, binding }) =
        take_transaction(ctx, tenant, send.handle).await?
    else {
        return Err(SignInError::Expired);
    };
    if !binding_matches(&binding, send.binding) {
        return Err(SignInError::OtherBrowser);
    }
    let settings = settings_of(ctx, tenant, &app).await?;
    if !offers_local(&settings) {
        return Err(SignInError::ProviderNotOffered);
    }
    let email = send.email.trim().to_owned();
    if !is_valid_email(&email) {
        return choice_again(
            ctx,
            tenant,
            app,
            send.binding,
            Some(email),
            Some("Enter an email address, like name@example.com.".into()),
        )
        .await;
    }
    let Some(mailer) = mailer else {
        return Err(SignInError::MailUnavailable);
    };
    let (per_client, per_email) = SEND_LIMITS;
    let client_key = sha256(format!("client\0{}", send.client).as_bytes());
    let email_key = sha256(format!("email\0{}", email.to_lowercase()).as_bytes());
    let allowed = ctx
        .store
        .count_code_send(tenant, &client_key, SEND_WINDOW, per_client, ctx.now)
        .await?
        && ctx
            .store
            .count_code_send(tenant, &email_key, SEND_WINDOW, per_email, ctx.now)
            .await?;
    if !allowed {
        tracing::info!(tenant = %tenant, "one-time code refused by the send limit");
        return choice_again(
            ctx,
            tenant,
            app,
            send.binding,
            Some(email),
            Some("Too many codes were sent. Wait an hour, then try again.".into()),
        )
        .await;
    }
    let code = new_code()?;
    let handle = random_token(32)?;
    let expires_at = ctx.now + CODE_LIFETIME;
    let application_name = app.application_name.clone();
    let transaction = Transaction::LocalCode {
        app,
        binding: B64.encode(send.binding),
        email: email.clone(),
        code: B64.encode(code_digest(&handle, &code)),
        attempts: 0,
        expires_at: expires_at.unix_timestamp(),
    };
    put_transaction_until(ctx, tenant, &handle, &transaction, expires_at).await?;
    let body = format!(
        "Your verification code for {application_name} is {code}\r\n\r\n\
         It is valid for 10 minutes. If you did not ask for it, ignore this message.\r\n"
    );
    if let Err(e) = mailer
        .send(&email, &format!("Your verification code: {code}"), body)
        .await
    {
        tracing::warn!(tenant = %tenant, error = %e, "one-time code not sent");
        return Err(SignInError::MailUnavailable);
    }
    tracing::info!(tenant = %tenant, "one-time code sent");
    Ok(SignInStep::LocalCode(CodePage {
        handle,
        application_name,
        email,
        error: None,
    }))
}

/// The code page's answer. A wrong code counts an attempt (the page again, under the same handle, until the last
/// attempt, which ends the sign-up); the right one verifies the address and shows the passkey registration.
pub async fn verify_code(
    ctx: BrokerContext<'_>,
    tenant: &TenantId,
    handle: &str,
    binding: &[u8],
    code: &str,
) -> Result<SignInStep, SignInError> {
    let Some(Transaction::LocalCode {
        app,
        binding: expected,
        email,
        code: digest,
        attempts,
        expires_at,
    }) = take_transaction(ctx, tenant, handle).await?
    else {
        return Err(SignInError::Expired);
    };
    if !binding_matches(&expected, binding) {
        return Err(SignInError::OtherBrowser);
    }
    let expires = OffsetDateTime::from_unix_timestamp(expires_at)
        .map_err(|e| ServiceError::Corrupt(format!("code expiry: {e}")))?;
    if ctx.now >= expires {
        return Err(SignInError::Expired);
    }
    let typed: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if !binding_matches(&digest, &code_digest(handle, &typed)) {
        let attempts = attempts + 1;
        tracing::info!(tenant = %tenant, attempts, "wrong one-time code");
        if attempts >= CODE_ATTEMPTS {
            return Err(SignInError::TooManyAttempts);
        }
        let application_name = app.application_name.clone();
        let transaction = Transaction::LocalCode {
            app,
            binding: expected,
            email: email.clone(),
            code: digest,
            attempts,
            expires_at,
        };
        put_transaction_until(ctx, tenant, handle, &transaction, expires).await?;
        let left = CODE_ATTEMPTS - attempts;
        return Ok(SignInStep::LocalCode(CodePage {
            handle: handle.to_owned(),
            application_name,
            email,
            error: Some(format!(
                "That code is not right. Check the latest message and try again ({left} {} left).",
                if left == 1 { "attempt" } else { "attempts" }
            )),
        }));
    }
    // The address is verified: the passkey's creation options.
    let settings = settings_of(ctx, tenant, &app).await?;
    let (rp_id, _) = relying_party(ctx.base)?;
    let user_handle = crate::provider::ceremony::random_bytes::<32>()?.to_vec();
    let challenge = generate_challenge().map_err(|_| ServiceError::Random)?;
    let tenant_name = ctx
        .store
        .get_broker_tenant(tenant)
        .await?
        .map_or_else(|| tenant.to_string(), |t| t.display_name);
    let options = PublicKeyCredentialCreationOptionsJSON::builder(
        rp_id,
        tenant_name,
        UserEntity {
            id: Base64UrlBytes(user_handle.clone()),
            name: email.clone(),
            display_name: email.clone(),
        },
        challenge.to_vec(),
    )
    .algorithms(&ALGORITHMS)
    .resident_key(ResidentKeyRequirement::Required)
    .user_verification(user_verification(&settings))
    .build();
    let handle = random_token(32)?;
    let application_name = app.application_name.clone();
    let reply_origin = super::signin::tuple_origin(&app.request.redirect_uri);
    let until = ctx.now + CHALLENGE_LIFETIME;
    let transaction = Transaction::LocalRegister {
        app,
        binding: expected,
        email: email.clone(),
        user_handle: B64.encode(&user_handle),
        challenge: B64.encode(challenge),
        algorithms: options.offered_algorithms(),
        expires_at: until.unix_timestamp(),
    };
    put_transaction_until(ctx, tenant, &handle, &transaction, until).await?;
    Ok(SignInStep::LocalRegister(Box::new(RegisterPage {
        handle,
        application_name,
        email,
        options,
        reply_origin,
    })))
}

/// The passkey registration's answer (`credential`: the credential's `toJSON()`): verifies it (origin, RP ID hash,
/// challenge, user verification per flow, algorithm, a credential id not yet registered here), applies the flow's
/// access rules, then the attribute page (or, when the flow collects nothing, the new user at once).
pub async fn finish_registration(
    ctx: BrokerContext<'_>,
    tenant: &TenantId,
    handle: &str,
    binding: &[u8],
    credential: &str,
) -> Result<SignInStep, SignInError> {
    let Some(Transaction::LocalRegister {
        app,
        binding: expected,
        email,
        user_handle,
        challenge,
        algorithms,
        expires_at,
    }) = take_transaction(ctx, tenant, handle).await?
    else {
        return Err(SignInError::Expired);
    };
    if !binding_matches(&expected, binding) {
        return Err(SignInError::OtherBrowser);
    }
    if ctx.now.unix_timestamp() >= expires_at {
        return Err(SignInError::Expired);
    }
    let settings = settings_of(ctx, tenant, &app).await?;
    let response: RegistrationResponseJSON = serde_json::from_str(credential)
        .map_err(|e| passkey_refused("response-json-invalid", &e))?;
    let exists = ctx
        .store
        .get_local_credential(tenant, response.raw_id.as_slice())
        .await?
        .is_some();
    let (rp_id, origin) = relying_party(ctx.base)?;
    let origins = OriginPolicy::new(vec![origin]);
    let rp_ids = [rp_id];
    let challenge = B64
        .decode(challenge)
        .map_err(|e| ServiceError::Corrupt(format!("challenge: {e}")))?;
    let policy = policy_for(&settings);
    let expectation = RegistrationExpectation {
        challenge: &challenge,
        origins: &origins,
        rp_ids: &rp_ids,
        algorithms: &algorithms,
        mediation: Mediation::Modal,
        policy: &policy,
        trust: AttestationTrust::new(ctx.now),
    };
    let verified = verify_registration(&response, &expectation, |_| exists)
        .map_err(|e| passkey_refused(e.rule(), &e))?;
    let object_id = super::signup::new_object_id()?;
    let profile = UpstreamProfile {
        issuer: local_issuer(tenant.as_str()),
        subject: object_id.as_str().to_owned(),
        display_name: None,
        given_name: None,
        surname: None,
        email: Some(email.clone()),
        amr: passkey_amr(verified.backup_eligible, verified.user_verified),
        acr: None,
        auth_time: Some(ctx.now),
        email_verified: true,
    };
    let local = ProviderId::local();
    if let Err(e) = evaluate_access(&settings, &app.request.client_id, &local, &profile) {
        tracing::info!(tenant = %tenant, reason = %e, "local sign-up refused by the user flow");
        return refuse(&app, ErrorCode::AccessDenied, &e.to_string());
    }
    let passkey = LocalPasskey {
        credential_id: B64.encode(&verified.credential_id),
        user_handle,
        public_key: B64.encode(&verified.public_key_cbor),
        alg: verified.algorithm.id(),
        sign_count: verified.sign_count,
        uv_initialized: verified.user_verified,
        backup_eligible: verified.backup_eligible,
        backup_state: verified.backup_state,
        transports: verified
            .transports
            .iter()
            .map(|t| t.as_str().to_owned())
            .collect(),
    };
    let pending = PendingSignup {
        app,
        provider_id: local,
        profile,
        // Bound to the browser by its CSRF token (there is no correlation cookie: no provider was visited).
        correlation: expected,
        correlation_name: String::new(),
        local: Some(passkey),
        object_id: Some(object_id.as_str().to_owned()),
    };
    if settings.user_attributes.is_empty() {
        return super::signup::create_user(ctx, tenant, &pending, Default::default()).await;
    }
    let fields = attribute_fields(&settings, &pending.profile);
    super::signup::attribute_page(ctx, tenant, &pending, fields, Vec::new()).await
}

/// The purpose the decoy key of email-first sign-ins is derived for from the master key.
pub const DECOY_KEY_PURPOSE: &str = "tessera/broker/local-decoy-credential-ids/v1";

/// The `allowCredentials` of an email-first sign-in: the passkeys of the local accounts with that address, or, when
/// there is none, one decoy credential id (HMAC-SHA256 of the tenant and the lowercased address under a key derived
/// from the master key), so the answer does not tell whether an account exists.
async fn allow_for_email(
    ctx: BrokerContext<'_>,
    tenant: &TenantId,
    email: &str,
) -> Result<Vec<PublicKeyCredentialDescriptor>, SignInError> {
    let folded = email.trim().to_lowercase();
    let issuer = local_issuer(tenant.as_str());
    let page = ctx
        .store
        .search_directory_users(tenant, &folded, None, None, 50)
        .await?;
    let mut allow = Vec::new();
    for user in page.users.iter().filter(|u| {
        u.email
            .as_deref()
            .is_some_and(|e| e.to_lowercase() == folded)
            && u.identities.iter().any(|i| i.issuer == issuer)
    }) {
        for passkey in ctx
            .store
            .list_local_credentials(tenant, &user.object_id)
            .await?
        {
            let transports = passkey
                .transports
                .iter()
                .cloned()
                .map(AuthenticatorTransport::from)
                .collect();
            allow.push(PublicKeyCredentialDescriptor::new(
                passkey.credential_id,
                transports,
            ));
        }
    }
    if allow.is_empty() {
        let key = aws_lc_rs::hmac::Key::new(
            aws_lc_rs::hmac::HMAC_SHA256,
            &ctx.master.derive(DECOY_KEY_PURPOSE),
        );
        let mut message = tenant.as_str().as_bytes().to_vec();
        message.push(0);
        message.extend_from_slice(folded.as_bytes());
        allow.push(PublicKeyCredentialDescriptor::new(
            aws_lc_rs::hmac::sign(&key, &message).as_ref().to_vec(),
            vec![
                AuthenticatorTransport::Internal,
                AuthenticatorTransport::Hybrid,
            ],
        ));
    }
    Ok(allow)
}

/// "Sign in with a passkey" on the choice page: a challenge for a discoverable credential, or, email-first (the
/// user typed their address), for that account's passkeys ([`allow_for_email`]); bound to the browser and to the
/// page's sign-in (which stays usable for another try).
pub async fn passkey_options(
    ctx: BrokerContext<'_>,
    tenant: &TenantId,
    handle: &str,
    binding: &[u8],
    email: Option<&str>,
) -> Result<PasskeyOptions, SignInError> {
    let Some(Transaction::Choice {
        app,
        binding: expected,
    }) = take_transaction(ctx, tenant, handle).await?
    else {
        return Err(SignInError::Expired);
    };
    if !binding_matches(&expected, binding) {
        return Err(SignInError::OtherBrowser);
    }
    let settings = settings_of(ctx, tenant, &app).await?;
    if !offers_local(&settings) {
        return Err(SignInError::ProviderNotOffered);
    }
    // The page's sign-in stays: the user may cancel the prompt and try again, or choose a provider.
    let page = Transaction::Choice {
        app: app.clone(),
        binding: expected.clone(),
    };
    put_transaction_until(
        ctx,
        tenant,
        handle,
        &page,
        ctx.now + tessera_store::broker::BROKER_TRANSACTION_LIFETIME,
    )
    .await?;
    let (rp_id, _) = relying_party(ctx.base)?;
    let challenge = generate_challenge().map_err(|_| ServiceError::Random)?;
    let allow = match email.map(str::trim).filter(|e| !e.is_empty()) {
        Some(email) => allow_for_email(ctx, tenant, email).await?,
        None => Vec::new(),
    };
    let allowed: Vec<String> = allow.iter().map(|d| B64.encode(&d.id.0)).collect();
    let options = PublicKeyCredentialRequestOptionsJSON::builder(rp_id, challenge.to_vec())
        .allow_credentials(allow)
        .user_verification(user_verification(&settings))
        .build();
    let ceremony = random_token(32)?;
    let until = ctx.now + CHALLENGE_LIFETIME;
    let transaction = Transaction::LocalSignIn {
        app,
        binding: expected,
        challenge: B64.encode(challenge),
        expires_at: until.unix_timestamp(),
        allow: allowed,
    };
    put_transaction_until(ctx, tenant, &ceremony, &transaction, until).await?;
    Ok(PasskeyOptions { ceremony, options })
}

/// The passkey sign-in's answer (`credential`: the assertion's `toJSON()`): finds the passkey by its id in this
/// broker tenant, verifies the assertion (origin, RP ID hash, challenge, user handle, user verification per flow,
/// signature, counter), moves the counter, applies the flow's access rules and answers the app.
pub async fn finish_passkey_sign_in(
    ctx: BrokerContext<'_>,
    tenant: &TenantId,
    ceremony: &str,
    binding: &[u8],
    credential: &str,
) -> Result<SignInStep, SignInError> {
    let Some(Transaction::LocalSignIn {
        app,
        binding: expected,
        challenge,
        expires_at,
        allow,
    }) = take_transaction(ctx, tenant, ceremony).await?
    else {
        return Err(SignInError::Expired);
    };
    if !binding_matches(&expected, binding) {
        return Err(SignInError::OtherBrowser);
    }
    if ctx.now.unix_timestamp() >= expires_at {
        return Err(SignInError::Expired);
    }
    let settings = settings_of(ctx, tenant, &app).await?;
    let response: AuthenticationResponseJSON = serde_json::from_str(credential)
        .map_err(|e| passkey_refused("response-json-invalid", &e))?;
    let Some(stored) = ctx
        .store
        .get_local_credential(tenant, response.raw_id.as_slice())
        .await?
    else {
        return Err(passkey_refused(
            "credential-unknown",
            &"this passkey is not registered with this sign-in service",
        ));
    };
    let record = CredentialRecord {
        credential_id: stored.credential_id.clone(),
        user_handle: stored.user_handle.clone(),
        public_key: stored.public_key.clone(),
        sign_count: stored.sign_count,
        backup_eligible: stored.backup_eligible,
        backup_state: stored.backup_state,
        uv_initialized: stored.uv_initialized,
        transports: stored
            .transports
            .iter()
            .cloned()
            .map(AuthenticatorTransport::from)
            .collect(),
    };
    let (rp_id, origin) = relying_party(ctx.base)?;
    let origins = OriginPolicy::new(vec![origin]);
    let rp_ids = [rp_id];
    let challenge = B64
        .decode(challenge)
        .map_err(|e| ServiceError::Corrupt(format!("challenge: {e}")))?;
    let policy = policy_for(&settings);
    let allow: Vec<Vec<u8>> = allow
        .iter()
        .map(|id| B64.decode(id))
        .collect::<Result<_, _>>()
        .map_err(|e| ServiceError::Corrupt(format!("allowed credentials: {e}")))?;
    let expectation = AuthenticationExpectation {
        challenge: &challenge,
        origins: &origins,
        rp_ids: &rp_ids,
        appid: None,
        allow_credentials: &allow,
        // Email-first: the passkey is one of the account's (the engine checks it is in `allow`), whose user handle
        // the response may omit; discoverable: the response's user handle must name the passkey's account.
        user: if allow.is_empty() {
            UserIdentification::Discoverable
        } else {
            UserIdentification::Identified {
                user_handle: &stored.user_handle,
            }
        },
        policy: &policy,
    };
    let verified = verify_authentication(&response, &expectation, &record)
        .map_err(|e| passkey_refused(e.rule(), &e))?;
    if verified.sign_count_regressed {
        return Err(passkey_refused(
            "sign-count-regressed",
            &"its signature counter did not move forward, which can mean a cloned authenticator",
        ));
    }
    let moved = ctx
        .store
        .record_local_credential_use(
            tenant,
            &stored.credential_id,
            stored.sign_count,
            verified.sign_count,
            verified.backup_state,
            ctx.now,
        )
        .await?;
    if !moved {
        // A concurrent sign-in with the same counter (or the passkey was deleted meanwhile).
        return Err(SignInError::Expired);
    }
    let Some(user) = ctx
        .store
        .get_directory_user(tenant, &stored.object_id)
        .await?
    else {
        return Err(passkey_refused(
            "credential-unknown",
            &"this passkey's account no longer exists",
        ));
    };
    if user.disabled_at.is_some() {
        tracing::info!(tenant = %tenant, user = %user.object_id, "disabled directory user refused");
        return refuse(&app, ErrorCode::AccessDenied, "This account is disabled.");
    }
    let profile = UpstreamProfile {
        issuer: local_issuer(tenant.as_str()),
        subject: user.object_id.as_str().to_owned(),
        display_name: user.display_name.clone(),
        given_name: user.given_name.clone(),
        surname: user.surname.clone(),
        email: user.email.clone(),
        amr: passkey_amr(verified.backup_eligible, verified.user_verified),
        acr: None,
        auth_time: Some(ctx.now),
        email_verified: user.email.is_some(),
    };
    let local = ProviderId::local();
    if let Err(e) = evaluate_access(&settings, &app.request.client_id, &local, &profile) {
        tracing::info!(tenant = %tenant, reason = %e, "local sign-in refused by the user flow");
        return refuse(&app, ErrorCode::AccessDenied, &e.to_string());
    }
    tracing::info!(
        tenant = %tenant,
        user = %user.object_id,
        user_verified = verified.user_verified,
        "local account signed in with a passkey"
    );
    session::sign_in(
        ctx,
        tenant,
        &app,
        SignedIn {
            object_id: user.object_id,
            provider_id: local,
            profile,
            new_user: false,
        },
    )
    .await
}

fn passkey_refused(rule: &str, error: &dyn std::fmt::Display) -> SignInError {
    SignInError::Passkey {
        rule: rule.to_owned(),
        reason: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits_and_their_digest_depends_on_the_handle() {
        for _ in 0..100 {
            let code = new_code().expect("code");
            assert_eq!(code.len(), 6);
            assert!(code.bytes().all(|b| b.is_ascii_digit()));
        }
        assert_ne!(code_digest("a", "123456"), code_digest("b", "123456"));
        assert_ne!(code_digest("a", "123456"), code_digest("a", "123457"));
    }

    #[test]
    fn the_relying_party_is_the_public_urls_host_and_origin() {
        assert_eq!(
            relying_party("https://login.contoso.example:8443").expect("rp"),
            (
                "login.contoso.example".to_owned(),
                "https://login.contoso.example:8443".to_owned()
            )
        );
    }
}
