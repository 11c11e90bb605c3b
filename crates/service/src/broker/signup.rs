//! Sign-up of a user new to the directory: the attribute page's pending sign-up and its answer
//! ([`complete_signup`]).
//!
//! Nothing is written to the directory until the form validates: the pending sign-up lives in the store under the
//! hash of its handle for [`BROKER_TRANSACTION_LIFETIME`], single use, bound to the browser by the correlation
//! cookie of the upstream sign-in. The user is then written with their identity in one transaction
//! (`create_user_with_identity`), so a sign-up abandoned at any step leaves no row behind.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use tessera_broker::claims::{
    AttributeError, AttributeField, CollectedAttributes, DirectoryUser, validate_attribute_form,
};
use tessera_core::{TenantId, UserId};
use tessera_store::broker::BROKER_TRANSACTION_LIFETIME;
use tessera_store::{DirectoryIdentity, DirectoryUserRecord, StoreError};

use super::session::{self, SignedIn};
use super::signin::{AttributePage, BrokerContext, PendingSignup, SignInError, SignInStep};
use crate::error::ServiceError;
use crate::handles::{random_token, sha256};

/// Stores the pending sign-up under a fresh handle and returns the attribute page.
pub(crate) async fn attribute_page(
    ctx: BrokerContext<'_>,
    tenant: &TenantId,
    pending: &PendingSignup,
    fields: Vec<AttributeField>,
    errors: Vec<AttributeError>,
) -> Result<SignInStep, SignInError> {
    let handle = random_token(32)?;
    let payload = serde_json::to_vec(pending)
        .map_err(|e| ServiceError::Internal(format!("pending sign-up: {e}")))?;
    ctx.store
        .put_pending_signup(
            tenant,
            &sha256(handle.as_bytes()),
            &payload,
            ctx.now + BROKER_TRANSACTION_LIFETIME,
        )
        .await?;
    Ok(SignInStep::Attributes(AttributePage {
        handle,
        application_name: pending.app.application_name.clone(),
        fields,
        errors,
        correlation_name: pending.correlation_name.clone(),
        reply_origin: super::signin::tuple_origin(&pending.app.request.redirect_uri),
        verified_email: pending
            .local
            .as_ref()
            .and_then(|_| pending.profile.email.clone()),
    }))
}

/// The attribute page's answer: validates the form against the flow version the sign-in started on. Problems show
/// the page again (with every field's problem and what the user typed); a valid form writes the user with their
/// identity in one transaction, starts the broker session and answers the app with a code.
///
/// A federated sign-up is bound to the browser by the correlation cookie of its upstream sign-in (`correlation`,
/// its value); a local one by the browser's CSRF token (`binding`, its SHA-256).
pub async fn complete_signup(
    ctx: BrokerContext<'_>,
    tenant: &TenantId,
    handle: &str,
    form: &[(String, String)],
    correlation: Option<&str>,
    binding: &[u8],
) -> Result<SignInStep, SignInError> {
    let Some(payload) = ctx
        .store
        .take_pending_signup(tenant, &sha256(handle.as_bytes()), ctx.now)
        .await?
    else {
        return Err(SignInError::Expired);
    };
    let pending: PendingSignup = serde_json::from_slice(&payload)
        .map_err(|e| ServiceError::Corrupt(format!("pending sign-up: {e}")))?;
    let matches = |actual: &[u8]| {
        B64.decode(&pending.correlation).is_ok_and(|expected| {
            aws_lc_rs::constant_time::verify_slices_are_equal(&expected, actual).is_ok()
        })
    };
    let bound = if pending.local.is_some() {
        matches(binding)
    } else {
        correlation.is_some_and(|value| matches(&sha256(value.as_bytes())))
    };
    if !bound {
        return Err(SignInError::OtherBrowser);
    }
    let settings = super::signin::settings_of(ctx, tenant, &pending.app).await?;
    match validate_attribute_form(&settings, form) {
        Ok(mut collected) => {
            if pending.local.is_some() {
                // The address the one-time code verified is the account's, whatever the form sent.
                collected.email = pending.profile.email.clone();
            }
            create_user(ctx, tenant, &pending, collected).await
        }
        Err(errors) => {
            let fields = tessera_broker::claims::attribute_fields(&settings, &pending.profile)
                .into_iter()
                .map(|mut field| {
                    field.value = form
                        .iter()
                        .find(|(k, _)| *k == field.name)
                        .map(|(_, v)| v.clone());
                    field
                })
                .collect();
            attribute_page(ctx, tenant, &pending, fields, errors).await
        }
    }
}

/// Writes the new user with their identity (one transaction) and signs them in. If the same identity signed up a
/// moment ago in another tab, that user signs in instead.
pub(crate) async fn create_user(
    ctx: BrokerContext<'_>,
    tenant: &TenantId,
    pending: &PendingSignup,
    collected: CollectedAttributes,
) -> Result<SignInStep, SignInError> {
    let object_id = match &pending.object_id {
        Some(id) => UserId::parse(id)
            .map_err(|e| ServiceError::Corrupt(format!("pending sign-up object id: {e}")))?,
        None => new_object_id()?,
    };
    let user = DirectoryUser::new(object_id.as_str().to_owned(), &pending.profile, collected);
    let record = DirectoryUserRecord {
        tenant: tenant.clone(),
        object_id: object_id.clone(),
        display_name: user.display_name.clone(),
        given_name: user.given_name.clone(),
        surname: user.surname.clone(),
        email: user.email.clone(),
        custom: custom_json(&user.custom)?,
        identities: Vec::new(),
        created_at: ctx.now,
        last_sign_in_at: None,
        disabled_at: None,
    };
    let identity = DirectoryIdentity {
        issuer: pending.profile.issuer.clone(),
        subject: pending.profile.subject.clone(),
    };
    // The user, their identity, the sign-in, the session and the app's code in one transaction: a sign-up that
    // fails at its last step leaves no user behind.
    let start = session::new_session(
        ctx,
        tenant,
        &pending.app,
        SignedIn {
            object_id: object_id.clone(),
            provider_id: pending.provider_id.clone(),
            profile: pending.profile.clone(),
            new_user: true,
        },
    )?;
    let written = match &pending.local {
        Some(passkey) => {
            let credential = passkey.record(tenant, &object_id, ctx.now)?;
            let written = ctx
                .store
                .sign_up_local_user(
                    &record,
                    &identity,
                    &credential,
                    &start.session,
                    start.code_record(),
                    ctx.now,
                )
                .await;
            if written == Err(StoreError::Conflict) {
                // The passkey was registered a moment ago (the same form sent twice): nothing was written.
                return Err(SignInError::Expired);
            }
            written
        }
        None => {
            ctx.store
                .sign_up_broker_user(
                    &record,
                    &identity,
                    &start.session,
                    start.code_record(),
                    ctx.now,
                )
                .await
        }
    };
    match written {
        Ok(()) => {
            tracing::info!(tenant = %tenant, user = %object_id, new_user = true, "directory user signed up");
            start.answer(tenant, &pending.app)
        }
        Err(StoreError::Conflict) => {
            // The same identity signed up a moment ago (another tab): that user signs in instead.
            let Some(existing) = ctx
                .store
                .find_user_by_identity(tenant, &identity.issuer, &identity.subject)
                .await?
            else {
                return Err(ServiceError::Internal("object id collision".into()).into());
            };
            if existing.disabled_at.is_some() {
                return super::signin::refuse(
                    &pending.app,
                    tessera_oidc::ErrorCode::AccessDenied,
                    "This account is disabled.",
                );
            }
            tracing::info!(tenant = %tenant, user = %existing.object_id, new_user = false, "directory user signed up");
            session::sign_in(
                ctx,
                tenant,
                &pending.app,
                SignedIn {
                    object_id: existing.object_id,
                    provider_id: pending.provider_id.clone(),
                    profile: pending.profile.clone(),
                    new_user: false,
                },
            )
            .await
        }
        Err(other) => Err(other.into()),
    }
}

/// A fresh object id: a random (version 4) UUID, as Azure AD B2C's object ids are.
pub(crate) fn new_object_id() -> Result<UserId, ServiceError> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| ServiceError::Random)?;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let text = format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    );
    UserId::parse(&text).map_err(|e| ServiceError::Internal(format!("object id: {e}")))
}

fn custom_json(
    custom: &BTreeMap<String, tessera_broker::claims::AttributeValue>,
) -> Result<serde_json::Value, ServiceError> {
    serde_json::to_value(custom)
        .map_err(|e| ServiceError::Internal(format!("custom attributes: {e}")))
}
