//! The broker's sign-in path: the app's authorization request ([`begin_sign_in`]), the choice page's answer
//! ([`choose_provider`]) and the provider's authorization response at `/{tenant}/oauth2/authresp`
//! ([`complete_upstream`]).
//!
//! Between the redirect to the provider and its answer the broker keeps a transaction in the store, under the hash of
//! the `state` it sent, for [`BROKER_TRANSACTION_LIFETIME`] (a passkey prompt may take minutes). The transaction is
//! bound to the browser by a correlation cookie, whose hash it stores: `form_post` arrives as a cross-site POST, so
//! that cookie is `SameSite=None` (the HTTP layer sets it), and the transaction is single use.
//!
//! The split that matters on this path (RFC 6749 §4.1.2.1): errors the app may hear (a refusal at the provider, a
//! policy's refusal, `prompt=none` without a session) are answered at its registered reply URL with its `state`
//! ([`SignInStep::Answer`]); everything else (unknown app, unregistered reply URL, an expired or replayed
//! transaction, a broken provider) is a [`SignInError`], which the HTTP layer shows as a page.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};
use tessera_broker::choice::{self, Choice, ChoiceHints};
use tessera_broker::claims::{
    AttributeError, AttributeField, UpstreamProfile, attribute_fields, claims_to_fetch,
    evaluate_access, map_claims, upstream_requirements,
};
use tessera_broker::config::{FlowSettings, PolicyId, ProviderId};
use tessera_broker::upstream::{
    AuthorizationOutcome, IdTokenError, IdTokenExpectations, UpstreamOptions, UpstreamRandomness,
    UpstreamTransaction, authorization_request, token_request, userinfo_request,
    validate_authorization_response, validate_id_token, validate_token_response, validate_userinfo,
};
use tessera_core::TenantId;
use tessera_oidc::authorize::{
    AuthorizationResponse, AuthorizeContext, LoginDecision, PromptValue, SessionFacts,
    ValidatedAuthorization, decide_login, error_response, requested_client_id,
    validate_authorization,
};
use tessera_oidc::error::{AuthorizeError, ErrorCode, OidcError};
use tessera_oidc::keys::{KeySet, MasterKey};
use tessera_oidc::{ClientType, ResponseMode};
use tessera_store::broker::BROKER_TRANSACTION_LIFETIME;
use tessera_store::{BrokerStore, DirectoryUserRecord};
use time::OffsetDateTime;

use super::federation::{self as providers, ProviderRuntime};
use super::runtime::{self, PolicyRuntime};
use super::session::{self, SsoSession};
use super::upstream_client::UpstreamClient;
use crate::error::ServiceError;
use crate::handles::{random_token, sha256};

/// The prefix of the correlation cookies; the rest of the name comes from the transaction's `state`, so that two
/// sign-ins started in two tabs do not overwrite each other's cookie.
pub const CORRELATION_COOKIE_PREFIX: &str = "__Host-tessera_corr_";

/// The app's request, validated, kept from the authorization endpoint until the app is answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppRequest {
    /// The validated request (reply URL, state, nonce, PKCE challenge, scopes, prompt).
    pub request: ValidatedAuthorization,
    /// The application's display name, for the pages.
    pub application_name: String,
    /// The policy id as configured.
    pub policy: String,
    /// The broker's issuer for this tenant and policy (`{base}/{tenant}/{policy}/v2.0`).
    pub issuer: String,
    /// The flow version the sign-in started on; it finishes on the same one.
    pub flow_version: u32,
    /// When the request arrived (Unix seconds).
    pub created_at: i64,
}

impl AppRequest {
    /// The policy id.
    pub fn policy(&self) -> Result<PolicyId, ServiceError> {
        PolicyId::parse(&self.policy)
            .map_err(|e| ServiceError::Corrupt(format!("transaction policy: {e}")))
    }

    /// The answer carrying `error` to the app's reply URL with its `state` (RFC 6749 §4.1.2.1).
    pub fn refusal(&self, error: ErrorCode, description: &str) -> AuthorizeError {
        AuthorizeError::Redirect {
            redirect_uri: self.request.redirect_uri.clone(),
            response_mode: self.request.response_mode,
            state: self.request.state.clone(),
            error,
            description: description.to_owned(),
        }
    }
}

/// What the store keeps under a transaction handle's hash.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Transaction {
    /// The choice page is showing; `binding` is the hash of the page's CSRF token.
    Choice { app: AppRequest, binding: String },
    /// A local sign-up's one-time code was sent to `email`; `code` is the digest of the handle and the code.
    LocalCode {
        app: AppRequest,
        binding: String,
        email: String,
        code: String,
        attempts: u32,
        expires_at: i64,
        /// A lost-passkey recovery (not a sign-up): the account the address belongs to, `None` for an address
        /// without an enabled local account (no code was sent; every code is wrong).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recover: Option<super::local::Recovery>,
    },
    /// A local sign-up's passkey registration is showing (the address is verified).
    LocalRegister {
        app: AppRequest,
        binding: String,
        email: String,
        user_handle: String,
        challenge: String,
        algorithms: Vec<i64>,
        expires_at: i64,
        /// A recovery: the object id of the account the new passkey is for.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recover: Option<String>,
    },
    /// A local account's passkey sign-in is in progress.
    LocalSignIn {
        app: AppRequest,
        binding: String,
        challenge: String,
        expires_at: i64,
        /// Email-first: the `allowCredentials` sent (base64url ids; a decoy for an unknown address).
        #[serde(default)]
        allow: Vec<String>,
    },
    /// The user is at the provider; `correlation` is the hash of the correlation cookie.
    Upstream {
        app: AppRequest,
        upstream: Box<UpstreamTransaction>,
        correlation: String,
    },
}

/// A sign-up waiting for the attribute page, as the store keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PendingSignup {
    pub(crate) app: AppRequest,
    pub(crate) provider_id: ProviderId,
    pub(crate) profile: UpstreamProfile,
    /// The hash of the correlation cookie: only the browser that went to the provider may finish.
    pub(crate) correlation: String,
    /// The correlation cookie's name.
    pub(crate) correlation_name: String,
    /// A local sign-up's verified passkey (then `correlation` is the hash of the browser's CSRF token).
    #[serde(default)]
    pub(crate) local: Option<super::local::LocalPasskey>,
    /// A local sign-up's object id (the subject of its local identity).
    #[serde(default)]
    pub(crate) object_id: Option<String>,
}

/// A cookie to set: its name and value (the HTTP layer adds the attributes).
#[derive(Clone, PartialEq, Eq)]
pub struct CookieValue {
    /// The cookie name.
    pub name: String,
    /// The cookie value.
    pub value: String,
}

impl std::fmt::Debug for CookieValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CookieValue")
            .field("name", &self.name)
            .field("value", &tessera_core::secret::Redacted)
            .finish()
    }
}

/// The choice page's content.
#[derive(Debug, Clone)]
pub struct ChoicePage {
    /// The handle the form sends back.
    pub handle: String,
    /// The application's display name.
    pub application_name: String,
    /// The providers to offer, in the flow's order: id and display name.
    pub providers: Vec<(ProviderId, String)>,
    /// The origins of their authorization endpoints: where the form's answer redirects, which the page's
    /// `form-action` must allow.
    pub provider_origins: Vec<String>,
    /// Whether to offer local accounts ("Sign in with a passkey", "Sign up with email").
    pub local_accounts: bool,
    /// The email address typed in the sign-up form (shown again with `local_error`).
    pub email: String,
    /// What was wrong with the sign-up form.
    pub local_error: Option<String>,
    /// The origin of the app's reply URL when local accounts are offered (the passkey sign-in's form is answered
    /// with a redirect there, which the page's `form-action` must allow).
    pub reply_origin: Option<String>,
}

/// The attribute page's content.
#[derive(Debug, Clone)]
pub struct AttributePage {
    /// The handle the form sends back.
    pub handle: String,
    /// The application's display name.
    pub application_name: String,
    /// The fields, prefilled (from the provider's claims, or from what the user typed).
    pub fields: Vec<AttributeField>,
    /// What was wrong with the last submission, each naming its field.
    pub errors: Vec<AttributeError>,
    /// The name of the correlation cookie that binds the sign-up to the browser (not secret: the form carries it
    /// so that the answer finds the cookie).
    pub correlation_name: String,
    /// The origin of the app's reply URL (`None` for a custom scheme): where the form's answer redirects, which the
    /// page's `form-action` must allow.
    pub reply_origin: Option<String>,
    /// A local sign-up's verified address: the page shows it and keeps it (the email field is read-only).
    pub verified_email: Option<String>,
}

/// The answer to the app, and the broker session to start when the user signed in.
#[derive(Debug)]
pub struct AppAnswer {
    /// The code or the error, by the app's response mode.
    pub response: AuthorizationResponse,
    /// The new broker session cookie, when the user signed in just now.
    pub session: Option<CookieValue>,
}

/// The next step of a sign-in.
#[derive(Debug)]
pub enum SignInStep {
    /// 303 to the provider, setting the correlation cookie.
    Upstream {
        /// The provider's authorization URL.
        location: String,
        /// The correlation cookie.
        correlation: CookieValue,
    },
    /// Show the choice page.
    Choose(ChoicePage),
    /// Show the attribute page.
    Attributes(AttributePage),
    /// Show the one-time code page of a local sign-up.
    LocalCode(super::local::CodePage),
    /// Show the passkey registration of a local sign-up or recovery.
    LocalRegister(Box<super::local::RegisterPage>),
    /// Show the "Lost your passkey?" page (the address to send a recovery code to).
    LocalRecover(super::local::RecoverPage),
    /// Answer the app (code or OAuth error).
    Answer(AppAnswer),
}

/// Why a sign-in step cannot continue and must not answer the app: the HTTP layer shows a page.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignInError {
    /// The request cannot be answered at the app (RFC 6749 §4.1.2.1): unknown app, unregistered reply URL,
    /// malformed request.
    #[error("authorization request refused: {0}")]
    NoRedirect(OidcError),
    /// The tenant has no such user flow (or the flow version the sign-in started on is gone).
    #[error("unknown user flow")]
    UnknownFlow,
    /// The transaction or pending sign-up is unknown, already used or expired.
    #[error("this sign-in was already completed or has expired")]
    Expired,
    /// The correlation cookie is missing or belongs to another sign-in.
    #[error("the sign-in was started in another browser (correlation cookie missing or wrong)")]
    OtherBrowser,
    /// The choice page's answer names a provider the flow does not offer.
    #[error("the chosen identity provider is not offered by this user flow")]
    ProviderNotOffered,
    /// No mail can be sent (no `[broker.mail]`, or the transport failed): a local sign-up cannot verify the address.
    #[error("the verification code could not be sent")]
    MailUnavailable,
    /// The last allowed wrong one-time code was entered: the sign-up must start again.
    #[error("too many wrong codes")]
    TooManyAttempts,
    /// A local account's passkey was refused; `rule` names the check.
    #[error("passkey refused ({rule}): {reason}")]
    Passkey {
        /// The failed check (`origin-mismatch`, `challenge-mismatch`, ...).
        rule: String,
        /// What it said.
        reason: String,
    },
    /// The provider misbehaved or is unreachable; `check` says which check failed (for the one log line).
    #[error("identity provider {provider}: {check}")]
    Provider {
        /// The provider id.
        provider: String,
        /// The failed check, in the words of the error that reported it.
        check: String,
    },
    /// The service failed (store, keys, randomness).
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<tessera_store::StoreError> for SignInError {
    fn from(error: tessera_store::StoreError) -> Self {
        Self::Service(error.into())
    }
}

/// What every step needs.
#[derive(Clone, Copy)]
pub struct BrokerContext<'a> {
    /// The store.
    pub store: &'a dyn BrokerStore,
    /// The HTTP client toward providers.
    pub upstream: &'a UpstreamClient,
    /// The master key (providers' client secrets).
    pub master: &'a MasterKey,
    /// The cached providers, applications and flow versions.
    pub config: &'a runtime::ConfigCache,
    /// The public base URL (`https://host`).
    pub base: &'a str,
    /// How long a broker session lasts.
    pub session_ttl: time::Duration,
    /// Now.
    pub now: OffsetDateTime,
}

/// The authorization request of an app.
pub struct BeginSignIn<'a> {
    /// The broker tenant.
    pub tenant: &'a TenantId,
    /// The user flow.
    pub policy: &'a PolicyRuntime,
    /// The tenant's keys (to verify an `id_token_hint`).
    pub keys: &'a KeySet,
    /// The request's parameters.
    pub pairs: &'a [(String, String)],
    /// The storage key of the browser's broker session cookie, if it sent one.
    pub session: Option<Vec<u8>>,
    /// SHA-256 of the CSRF token the choice page would carry.
    pub binding: Vec<u8>,
}

/// The origin of `url` (`scheme://host[:port]`); `None` for a URL without one (a custom scheme).
pub(crate) fn tuple_origin(url: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()
        .map(|url| url.origin())
        .filter(url::Origin::is_tuple)
        .map(|origin| origin.ascii_serialization())
}

/// B2C answers browser apps in the URL fragment, MSAL.js's default `response_mode` (a public app's code is bound to
/// it by PKCE). The shared authorization-request rules accept only `query` and `form_post`, so a public app's
/// `response_mode=fragment` is taken out before them and put back on their outcome; a confidential app's stays in
/// and is refused as any unsupported mode.
fn browser_app_fragment(
    pairs: &[(String, String)],
    client_type: ClientType,
) -> (Vec<(String, String)>, Option<ResponseMode>) {
    let asked = pairs
        .iter()
        .filter(|(name, _)| name == "response_mode")
        .collect::<Vec<_>>();
    match (client_type, asked.as_slice()) {
        (ClientType::Public, [(_, mode)]) if mode == "fragment" => (
            pairs
                .iter()
                .filter(|(name, _)| name != "response_mode")
                .cloned()
                .collect(),
            Some(ResponseMode::Fragment),
        ),
        _ => (pairs.to_vec(), None),
    }
}

/// Starts a sign-in for an app's authorization request: validates it with the provider rules on the application's
/// client configuration, answers from the broker session unless `prompt=login` (or `max_age`) asks otherwise,
/// then sends the browser to the one provider (or a hinted one), or shows the choice page.
pub async fn begin_sign_in(
    ctx: BrokerContext<'_>,
    begin: BeginSignIn<'_>,
) -> Result<SignInStep, SignInError> {
    let issuer = &begin.policy.urls.issuer;
    let client_id = match requested_client_id(begin.pairs) {
        Ok(id) => id,
        Err(e) => return answer(e, issuer),
    };
    let Some(application) = ctx
        .config
        .application(ctx.store, begin.tenant, &client_id)
        .await?
    else {
        return Err(SignInError::NoRedirect(OidcError::UnknownClient));
    };
    let config = application.client_config();
    let authorize = AuthorizeContext {
        issuer,
        keys: begin.keys.verifying_keys(),
    };
    let (pairs, fragment) = browser_app_fragment(begin.pairs, application.client_type);
    let request = match validate_authorization(&pairs, &config, &authorize) {
        Ok(mut request) => {
            request.response_mode = fragment.unwrap_or(request.response_mode);
            request
        }
        Err(mut e) => {
            if let (AuthorizeError::Redirect { response_mode, .. }, Some(mode)) = (&mut e, fragment)
            {
                *response_mode = mode;
            }
            return answer(e, issuer);
        }
    };
    let Some((flow_version, settings)) = ctx
        .config
        .current_flow_version(ctx.store, begin.tenant, &begin.policy.policy)
        .await?
    else {
        return Err(SignInError::UnknownFlow);
    };
    let app = AppRequest {
        request,
        application_name: application.display_name.clone(),
        policy: begin.policy.policy.as_str().to_owned(),
        issuer: issuer.clone(),
        flow_version,
        created_at: ctx.now.unix_timestamp(),
    };
    let current = match &begin.session {
        Some(hash) => session::current(ctx.store, begin.tenant, hash, ctx.now).await?,
        None => None,
    };
    let facts = current.as_ref().map(|s| SessionFacts {
        user: s.record.object_id.clone(),
        auth_time: s.record.auth_time,
    });
    match decide_login(&app.request, facts.as_ref(), ctx.now) {
        LoginDecision::Error(e) => return answer(e, issuer),
        LoginDecision::UseSession => {
            // A session from a provider this flow does not offer does not count: sign in with one it does.
            // A local account's session counts where the flow offers local accounts.
            if let Some(sso) = current.filter(|s| {
                settings.identity_providers.contains(&s.payload.provider_id)
                    || (s.payload.provider_id.is_local()
                        && settings.local_accounts != tessera_broker::config::LocalAccounts::None)
            }) {
                return answer_from_session(ctx, begin.tenant, &app, &settings, sso).await;
            }
        }
        LoginDecision::MustAuthenticate => {}
    }
    let hint = |name: &str| {
        begin
            .pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let hints = ChoiceHints {
        domain_hint: hint("domain_hint"),
        idp: hint("idp"),
    };
    // Provider configurations matter only for a domain hint (and the choice page's names).
    let configs = if hints.domain_hint.is_some() {
        providers::list_configs(ctx.store, begin.tenant).await?
    } else {
        Vec::new()
    };
    match choice::decide(&settings, &configs, hints) {
        Choice::Provider(provider) => start_upstream(ctx, begin.tenant, app, &provider).await,
        Choice::LocalAccount => Ok(SignInStep::Choose(
            choice_page(
                ctx,
                begin.tenant,
                app,
                &settings,
                &begin.binding,
                Vec::new(),
            )
            .await?,
        )),
        Choice::ChoicePage { providers, .. } => Ok(SignInStep::Choose(
            choice_page(ctx, begin.tenant, app, &settings, &begin.binding, providers).await?,
        )),
    }
}

/// Stores the choice page's transaction (bound to the browser whose CSRF token hashes to `binding`) and builds the
/// page: the `providers` offered by name, and the local accounts when the flow offers them.
pub(crate) async fn choice_page(
    ctx: BrokerContext<'_>,
    tenant: &TenantId,
    app: AppRequest,
    settings: &FlowSettings,
    binding: &[u8],
    providers: Vec<ProviderId>,
) -> Result<ChoicePage, SignInError> {
    let configs = if providers.is_empty() {
        Vec::new()
    } else {
        providers::list_configs(ctx.store, tenant).await?
    };
    let offered: Vec<(ProviderId, String)> = providers
        .into_iter()
        .filter_map(|id| {
            let name = configs.iter().find(|c| c.id == id)?.name.clone();
            Some((id, name))
        })
        .collect();
    let mut provider_origins = Vec::new();
    for (id, _) in &offered {
        let view = super::providers::get_identity_provider(ctx.store, tenant, id).await?;
        if let Some(origin) = tuple_origin(&view.metadata.authorization_endpoint)
            && !provider_origins.contains(&origin)
        {
            provider_origins.push(origin);
        }
    }
    let handle = random_token(32)?;
    let application_name = app.application_name.clone();
    let local_accounts = settings.local_accounts != tessera_broker::config::LocalAccounts::None;
    let reply_origin = tuple_origin(&app.request.redirect_uri).filter(|_| local_accounts);
    let transaction = Transaction::Choice {
        app,
        binding: B64.encode(binding),
    };
    put_transaction(ctx, tenant, &handle, &transaction).await?;
    Ok(ChoicePage {
        reply_origin,
        handle,
        application_name,
        providers: offered,
        provider_origins,
        local_accounts,
        email: String::new(),
        local_error: None,
    })
}

/// The choice page's answer: the provider the user chose, for the transaction `handle`, from the browser whose
/// CSRF token hashes to `binding`.
pub async fn choose_provider(
    ctx: BrokerContext<'_>,
    tenant: &TenantId,
    handle: &str,
    provider: &str,
    binding: &[u8],
) -> Result<SignInStep, SignInError> {
    let Some(Transaction::Choice {
        app,
        binding: expected,
    }) = take_transaction(ctx, tenant, handle).await?
    else {
        return Err(SignInError::Expired);
    };
    if !hash_matches(&expected, binding) {
        return Err(SignInError::OtherBrowser);
    }
    let settings = settings_of(ctx, tenant, &app).await?;
    let Some(chosen) = settings
        .identity_providers
        .iter()
        .find(|id| id.as_str() == provider)
        .cloned()
    else {
        return Err(SignInError::ProviderNotOffered);
    };
    start_upstream(ctx, tenant, app, &chosen).await
}

/// The name of the correlation cookie of the transaction whose `state` is given.
pub fn correlation_cookie_name(state: &str) -> String {
    let digest = sha256(state.as_bytes());
    format!("{CORRELATION_COOKIE_PREFIX}{}", B64.encode(&digest[..9]))
}

async fn start_upstream(
    ctx: BrokerContext<'_>,
    tenant: &TenantId,
    app: AppRequest,
    provider_id: &ProviderId,
) -> Result<SignInStep, SignInError> {
    let provider = providers::load(ctx.config, ctx.store, ctx.master, tenant, provider_id).await?;
    let redirect_uri = format!("{}/{tenant}/oauth2/authresp", ctx.base);
    let randomness = UpstreamRandomness {
        state: random_bytes()?,
        nonce: random_bytes()?,
        code_verifier: random_bytes()?,
    };
    let ui_locales = app.request.ui_locales.join(" ");
    // What the flow will require of this sign-in is asked of the provider first (when it advertises the acr values),
    // and judged on its answer either way.
    let settings = settings_of(ctx, tenant, &app).await?;
    let acr_values = upstream_requirements(&settings, &app.request.client_id, provider_id)
        .acr_values(&provider.metadata);
    let options = UpstreamOptions {
        prompt_login: app.request.has_prompt(PromptValue::Login) || app.request.max_age == Some(0),
        login_hint: app.request.login_hint.as_deref(),
        ui_locales: (!ui_locales.is_empty()).then_some(ui_locales.as_str()),
        max_age: app.request.max_age,
        acr_values: acr_values.as_deref(),
    };
    let redirect = authorization_request(
        &provider.config,
        &provider.metadata,
        &redirect_uri,
        &randomness,
        options,
        ctx.now,
    )
    .map_err(|e| provider_failure(provider_id, &e))?;
    let correlation = CookieValue {
        name: correlation_cookie_name(&redirect.transaction.state),
        value: random_token(32)?,
    };
    let state = redirect.transaction.state.clone();
    let transaction = Transaction::Upstream {
        app,
        upstream: Box::new(redirect.transaction),
        correlation: B64.encode(sha256(correlation.value.as_bytes())),
    };
    put_transaction(ctx, tenant, &state, &transaction).await?;
    Ok(SignInStep::Upstream {
        location: redirect.url,
        correlation,
    })
}

/// The provider's authorization response (query or form parameters), from the browser presenting `correlation`
/// (the value of the cookie named by [`correlation_cookie_name`] of the response's `state`).
///
/// Takes the transaction (single use), checks the correlation cookie, then the response (`state`, RFC 9207 `iss`),
/// redeems the code, validates the ID token (refetching the JWKS once on an unknown `kid`), fetches userinfo when
/// the ID token lacks mapped claims that the provider may supply (its `claims_supported`), maps the claims and
/// applies the flow's access rules. A returning user (found by issuer and subject) gets a code for the app; a new
/// one the attribute page (or, when the flow collects nothing, a new directory entry at once).
pub async fn complete_upstream(
    ctx: BrokerContext<'_>,
    tenant: &TenantId,
    params: &[(String, String)],
    correlation: Option<&str>,
) -> Result<SignInStep, SignInError> {
    let Some(state) = params
        .iter()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.as_str())
    else {
        return Err(SignInError::Expired);
    };
    let Some(Transaction::Upstream {
        app,
        upstream,
        correlation: expected,
    }) = take_transaction(ctx, tenant, state).await?
    else {
        return Err(SignInError::Expired);
    };
    match correlation {
        Some(value) if hash_matches(&expected, &sha256(value.as_bytes())) => {}
        _ => return Err(SignInError::OtherBrowser),
    }
    let provider_id = upstream.provider_id.clone();
    let code = match validate_authorization_response(params, &upstream)
        .map_err(|e| provider_failure(&provider_id, &e))?
    {
        AuthorizationOutcome::Code(code) => code,
        AuthorizationOutcome::Denied(denial) => {
            tracing::info!(
                tenant = %tenant,
                provider = %provider_id,
                upstream_error = %denial.upstream_error,
                upstream_description = denial.upstream_description.as_deref().unwrap_or(""),
                "identity provider refused the sign-in"
            );
            return refuse(&app, denial.app_error, &denial.app_description);
        }
    };
    let provider = providers::load(ctx.config, ctx.store, ctx.master, tenant, &provider_id).await?;
    let request = token_request(
        &provider.config,
        &provider.metadata,
        &upstream,
        &code,
        &provider.client_secret,
    );
    let response = ctx
        .upstream
        .post_token_request(&request)
        .await
        .map_err(|e| provider_failure(&provider_id, &e))?;
    let tokens =
        validate_token_response(&response.body).map_err(|e| provider_failure(&provider_id, &e))?;
    let id_token = match validated_id_token(ctx, tenant, &provider, &upstream, &tokens.id_token)
        .await?
    {
        Ok(id_token) => id_token,
        Err(stale) => {
            tracing::info!(
                tenant = %tenant,
                provider = %provider_id,
                check = %stale,
                "upstream sign-in not as fresh as the application asked"
            );
            return refuse(
                &app,
                ErrorCode::LoginRequired,
                "The identity provider did not sign the user in as recently as the application asked \
                     (max_age or prompt=login).",
            );
        }
    };
    let missing = claims_to_fetch(
        &provider.config.claim_mapping,
        &id_token,
        &provider.metadata,
    );
    let request = userinfo_request(&provider.metadata, &tokens.access_token);
    let userinfo = match (request, missing.is_empty()) {
        (Some(request), false) => {
            let body = ctx
                .upstream
                .get_userinfo(&request)
                .await
                .map_err(|e| provider_failure(&provider_id, &e))?;
            Some(
                validate_userinfo(&body.body, &id_token)
                    .map_err(|e| provider_failure(&provider_id, &e))?,
            )
        }
        _ => None,
    };
    let profile = map_claims(&provider.config.claim_mapping, &id_token, userinfo.as_ref())
        .map_err(|e| provider_failure(&provider_id, &e))?;
    let settings = settings_of(ctx, tenant, &app).await?;
    if let Err(e) = evaluate_access(&settings, &app.request.client_id, &provider_id, &profile) {
        tracing::info!(tenant = %tenant, provider = %provider_id, reason = %e, "sign-in refused by the user flow");
        return refuse(&app, ErrorCode::AccessDenied, &e.to_string());
    }
    match ctx
        .store
        .find_user_by_identity(tenant, &profile.issuer, &profile.subject)
        .await?
    {
        Some(user) => returning_user(ctx, tenant, &app, &provider_id, &profile, &user).await,
        None => {
            let pending = PendingSignup {
                app,
                provider_id,
                profile,
                correlation: expected,
                correlation_name: correlation_cookie_name(state),
                local: None,
                object_id: None,
            };
            if settings.user_attributes.is_empty() {
                return super::signup::create_user(ctx, tenant, &pending, Default::default()).await;
            }
            let fields = attribute_fields(&settings, &pending.profile);
            super::signup::attribute_page(ctx, tenant, &pending, fields, Vec::new()).await
        }
    }
}

/// Validates the ID token; on an unknown `kid` refetches the provider's JWKS once (at most once a minute per
/// provider, so a made-up `kid` cannot make the broker a request amplifier) and validates again.
///
/// The inner `Err` is a sound token whose sign-in is not as fresh as the app asked
/// ([`IdTokenError::is_stale_authentication`]): the app hears it as an OAuth error. Every other failure is the
/// provider's ([`SignInError::Provider`]).
async fn validated_id_token(
    ctx: BrokerContext<'_>,
    tenant: &TenantId,
    provider: &ProviderRuntime,
    upstream: &UpstreamTransaction,
    token: &str,
) -> Result<Result<tessera_broker::upstream::ValidatedIdToken, IdTokenError>, SignInError> {
    let expected = IdTokenExpectations::for_transaction(upstream, ctx.now);
    let id = &provider.config.id;
    let judge = |outcome: Result<_, IdTokenError>| match outcome {
        Ok(valid) => Ok(Ok(valid)),
        Err(e) if e.is_stale_authentication() => Ok(Err(e)),
        Err(e) => Err(provider_failure(id, &e)),
    };
    let first = validate_id_token(token, &provider.keys, &expected);
    let error = match first {
        Err(e) if e.calls_for_jwks_refetch() => e,
        other => return judge(other),
    };
    let keys = super::providers::refetch_jwks(ctx.store, ctx.upstream, tenant, id, ctx.now)
        .await
        .map_err(|e| match e {
            ServiceError::Store(e) => SignInError::Service(ServiceError::Store(e)),
            other => provider_failure(id, &other),
        })?;
    match keys {
        Some(keys) => {
            // The provider's cached entry holds the old keys.
            ctx.config.forget_provider(tenant, id);
            judge(validate_id_token(token, &keys, &expected))
        }
        // Refetched less than a minute ago: the token is refused as it stands.
        None => Err(provider_failure(id, &error)),
    }
}

async fn returning_user(
    ctx: BrokerContext<'_>,
    tenant: &TenantId,
    app: &AppRequest,
    provider_id: &ProviderId,
    profile: &UpstreamProfile,
    user: &DirectoryUserRecord,
) -> Result<SignInStep, SignInError> {
    if user.disabled_at.is_some() {
        tracing::info!(tenant = %tenant, user = %user.object_id, "disabled directory user refused");
        return refuse(app, ErrorCode::AccessDenied, "This account is disabled.");
    }
    // The sign-in time is recorded with the session and the code, in one store transaction.
    let signed_in = session::SignedIn {
        object_id: user.object_id.clone(),
        provider_id: provider_id.clone(),
        profile: profile.clone(),
        new_user: false,
    };
    session::sign_in(ctx, tenant, app, signed_in).await
}

/// Answers from the broker session: the flow's access rules still apply to this app.
async fn answer_from_session(
    ctx: BrokerContext<'_>,
    tenant: &TenantId,
    app: &AppRequest,
    settings: &FlowSettings,
    sso: SsoSession,
) -> Result<SignInStep, SignInError> {
    if let Err(e) = evaluate_access(
        settings,
        &app.request.client_id,
        &sso.payload.provider_id,
        &sso.payload.profile,
    ) {
        return refuse(app, ErrorCode::AccessDenied, &e.to_string());
    }
    let code = session::issue_code(
        ctx,
        tenant,
        app,
        &sso.record.object_id,
        &sso.record.sid,
        &sso.payload,
        false,
    )
    .await?;
    Ok(SignInStep::Answer(AppAnswer {
        response: code,
        session: None,
    }))
}

/// The flow version the sign-in started on.
pub(crate) async fn settings_of(
    ctx: BrokerContext<'_>,
    tenant: &TenantId,
    app: &AppRequest,
) -> Result<Arc<FlowSettings>, SignInError> {
    ctx.config
        .flow_version(ctx.store, tenant, &app.policy()?, app.flow_version)
        .await?
        .ok_or(SignInError::UnknownFlow)
}

/// An OAuth error for the app, at its reply URL with its `state`.
pub(crate) fn refuse(
    app: &AppRequest,
    error: ErrorCode,
    description: &str,
) -> Result<SignInStep, SignInError> {
    answer(app.refusal(error, description), &app.issuer)
}

fn answer(error: AuthorizeError, issuer: &str) -> Result<SignInStep, SignInError> {
    match error_response(&error, issuer) {
        None => match error {
            AuthorizeError::NoRedirect { cause, .. } => Err(SignInError::NoRedirect(cause)),
            AuthorizeError::Redirect { .. } => {
                Err(SignInError::NoRedirect(OidcError::RedirectUriNotAcceptable))
            }
        },
        Some(Ok(response)) => Ok(SignInStep::Answer(AppAnswer {
            response,
            session: None,
        })),
        Some(Err(e)) => Err(SignInError::NoRedirect(e)),
    }
}

fn provider_failure(provider: &ProviderId, error: &dyn std::fmt::Display) -> SignInError {
    SignInError::Provider {
        provider: provider.to_string(),
        check: error.to_string(),
    }
}

fn random_bytes() -> Result<[u8; 32], ServiceError> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| ServiceError::Random)?;
    Ok(bytes)
}

fn hash_matches(expected_b64: &str, actual: &[u8]) -> bool {
    B64.decode(expected_b64).is_ok_and(|expected| {
        aws_lc_rs::constant_time::verify_slices_are_equal(&expected, actual).is_ok()
    })
}

async fn put_transaction(
    ctx: BrokerContext<'_>,
    tenant: &TenantId,
    handle: &str,
    transaction: &Transaction,
) -> Result<(), SignInError> {
    put_transaction_until(
        ctx,
        tenant,
        handle,
        transaction,
        ctx.now + BROKER_TRANSACTION_LIFETIME,
    )
    .await
}

/// Stores a transaction under the hash of `handle` until `expires_at`.
pub(crate) async fn put_transaction_until(
    ctx: BrokerContext<'_>,
    tenant: &TenantId,
    handle: &str,
    transaction: &Transaction,
    expires_at: OffsetDateTime,
) -> Result<(), SignInError> {
    let payload = serde_json::to_vec(transaction)
        .map_err(|e| ServiceError::Internal(format!("broker transaction: {e}")))?;
    ctx.store
        .put_broker_transaction(tenant, &sha256(handle.as_bytes()), &payload, expires_at)
        .await?;
    Ok(())
}

/// Takes (single use) the transaction stored under the hash of `handle`.
pub(crate) async fn take_transaction(
    ctx: BrokerContext<'_>,
    tenant: &TenantId,
    handle: &str,
) -> Result<Option<Transaction>, SignInError> {
    match ctx
        .store
        .take_broker_transaction(tenant, &sha256(handle.as_bytes()), ctx.now)
        .await?
    {
        Some(payload) => {
            Ok(Some(serde_json::from_slice(&payload).map_err(|e| {
                ServiceError::Corrupt(format!("broker transaction: {e}"))
            })?))
        }
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_public_apps_fragment_mode_is_taken_out_and_answered_in_the_fragment() {
        let asked = pairs(&[("client_id", "app"), ("response_mode", "fragment")]);
        let (rest, mode) = browser_app_fragment(&asked, ClientType::Public);
        assert_eq!(rest, pairs(&[("client_id", "app")]));
        assert_eq!(mode, Some(ResponseMode::Fragment));
    }

    #[test]
    fn a_confidential_apps_fragment_mode_stays_and_is_refused_by_the_shared_rules() {
        let asked = pairs(&[("client_id", "app"), ("response_mode", "fragment")]);
        assert_eq!(
            browser_app_fragment(&asked, ClientType::Confidential),
            (asked.clone(), None)
        );
    }

    #[test]
    fn a_repeated_response_mode_is_left_to_the_shared_rules() {
        let asked = pairs(&[("response_mode", "fragment"), ("response_mode", "fragment")]);
        assert_eq!(
            browser_app_fragment(&asked, ClientType::Public),
            (asked.clone(), None)
        );
    }
}
