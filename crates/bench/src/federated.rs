//! The federated path of `tessera-bench signin --path federated`: an app signs in through the identity broker, which
//! sends the browser to the authenticator service (Tessera's own provider, in the same server process) and redeems
//! the provider's code before answering the app.
//!
//! Setup ([`prepare_broker`], once the server answers, because saving an identity provider fetches its metadata): a
//! broker tenant, the provider's bench tenant as its one OpenID Connect identity provider (added by its metadata
//! URL; `form_post` answers), a "sign up and sign in" user flow offering only it and collecting nothing, and a
//! confidential application whose ID tokens are ES256.
//!
//! One federated sign-in ([`crate::signin::Driver::federated_sign_in`]), with a fresh cookie jar:
//! 1. `GET {broker}/{tenant}/{policy}/oauth2/v2.0/authorize`: 303 to the provider's authorization endpoint, with
//!    the correlation cookie;
//! 2. `GET` the provider's `/authorize`: 303 to its sign-in page;
//! 3. – 6. the provider's sign-in page, login options, the assertion signed here, login verify (as the direct path);
//! 7. `GET` the provider's `/authorize/resume`: the `form_post` page toward the broker's `authresp`;
//! 8. `POST {broker}/{tenant}/oauth2/authresp` with that form and the correlation cookie: the broker redeems the
//!    provider's code at its token endpoint (one more request to the same server), validates the ID token, finds
//!    the directory user, and answers 303 to the app's reply URL with its code;
//! 9. `POST {broker}/.../oauth2/v2.0/token` (`client_secret_basic`, PKCE): the app's ID token, whose `alg`, `iss`,
//!    `aud` and `nonce` are checked (its signature against the broker's JWKS on the first sign-in of a run).

use tessera_broker::config::{
    ApplicationClaim, ClaimMapping, DEFAULT_SCOPE, FlowSettings, IdentityProvider, MetadataUrl,
    PolicyId, ProviderId, ResponseType, TokenLifetimes, UpstreamClientAuth, parse_scope,
};
use tessera_core::{Clock, Secret, SystemClock, TenantId};
use tessera_oidc::keys::{MasterKey, SigningAlg};
use tessera_service::broker::applications::{self, NewApplication};
use tessera_service::broker::tenants::{self as broker_tenants, NewBrokerTenant};
use tessera_service::broker::{UpstreamClient, flows, providers};
use tessera_service::clients::{self, ClientKind, LocalhostHttp, NewClient};
use tessera_store::Backend;

use tessera_oidc::keys::JwkSet;

use crate::error::BenchError;
use crate::server::{REDIRECT_URI, Target};
use crate::signin::{
    BenchUser, Driver, Jar, Pkce, SignedIn, TokenEndpoint, authz_of, code_of, see_other, step_error,
};

/// The broker tenant of the bench.
pub const BROKER_TENANT: &str = "benchb2c";
/// The bench's user flow.
pub const POLICY: &str = "B2C_1_bench";
/// The identity provider's id in the broker tenant.
pub const PROVIDER: &str = "tessera";

/// What the load generator needs to know about the prepared broker.
#[derive(Debug, Clone)]
pub struct BrokerTarget {
    /// The broker tenant.
    pub tenant: String,
    /// The user flow's policy id.
    pub policy: String,
    /// The app tokens' issuer: `{base}/{tenant}/{policy}/v2.0`.
    pub issuer: String,
    /// The authorization endpoint.
    pub authorize: String,
    /// The token endpoint.
    pub token: String,
    /// The JWKS.
    pub jwks: String,
    /// The confidential application's client id.
    pub client_id: String,
    /// Its secret (`Debug` shows `[redacted]`).
    pub client_secret: Secret,
}

/// Configures the broker of the running server at `target` through the same operations as `tessera broker`: see
/// the module documentation. `backend` is the server's store, opened a second time by this process.
pub async fn prepare_broker(
    backend: &dyn Backend,
    master: &MasterKey,
    target: &Target,
) -> Result<BrokerTarget, BenchError> {
    let now = SystemClock.now();
    let failed = |what: &str, e: &dyn std::fmt::Display| BenchError::Failed(format!("{what}: {e}"));
    let tenant = TenantId::parse(BROKER_TENANT).map_err(|e| failed("broker tenant id", &e))?;
    let provider_tenant =
        TenantId::parse(&target.tenant).map_err(|e| failed("provider tenant id", &e))?;
    broker_tenants::create_broker_tenant(
        backend,
        master,
        NewBrokerTenant {
            id: tenant.clone(),
            display_name: Some("Bench broker".into()),
        },
        now,
    )
    .await?;
    // The broker is a confidential client of the provider's tenant, answered at its `authresp`.
    let authresp = format!("{}/{BROKER_TENANT}/oauth2/authresp", target.base);
    let (client, secret) = clients::create_client(
        backend,
        NewClient {
            tenant: provider_tenant,
            redirect_uris: vec![clients::parse_redirect_uri(
                &authresp,
                LocalhostHttp::InsecureAllow,
            )?],
            post_logout_redirect_uris: Vec::new(),
            kind: ClientKind::ConfidentialBasic,
            id_token_alg: SigningAlg::Es256,
            name: Some("Bench broker".into()),
        },
        now,
    )
    .await?;
    let secret =
        secret.ok_or_else(|| BenchError::Failed("the broker's client has no secret".into()))?;
    let provider = ProviderId::parse(PROVIDER).map_err(|e| failed("provider id", &e))?;
    let metadata_url = MetadataUrl::parse(&format!(
        "{}/.well-known/openid-configuration",
        target.issuer
    ))
    .map_err(|e| failed("metadata URL", &e))?;
    let config = IdentityProvider {
        id: provider.clone(),
        name: "Tessera authenticator service".into(),
        metadata_url,
        client_id: client.client_id.to_string(),
        client_auth: UpstreamClientAuth::ClientSecretBasic,
        scope: parse_scope(DEFAULT_SCOPE),
        response_type: ResponseType::Code,
        response_mode: tessera_oidc::ResponseMode::FormPost,
        claim_mapping: ClaimMapping::default(),
        domain_hint: None,
    };
    let upstream = UpstreamClient::new();
    providers::save_identity_provider(backend, master, &upstream, &tenant, config, secret, now)
        .await?;
    let policy = PolicyId::parse(POLICY).map_err(|e| failed("policy id", &e))?;
    let flow = FlowSettings {
        identity_providers: vec![provider],
        application_claims: vec![
            ApplicationClaim::Email,
            ApplicationClaim::DisplayName,
            ApplicationClaim::IdentityProvider,
            ApplicationClaim::ObjectId,
        ],
        ..FlowSettings::default()
    };
    flows::create_user_flow(backend, &tenant, policy, flow, now).await?;
    let (application, secret) = applications::create_application(
        backend,
        &tenant,
        NewApplication {
            display_name: "Bench app".into(),
            client_type: tessera_oidc::ClientType::Confidential,
            reply_urls: vec![REDIRECT_URI.to_owned()],
            logout_urls: Vec::new(),
            token_lifetimes: TokenLifetimes::default(),
            id_token_signing_alg: SigningAlg::Es256,
        },
        now,
    )
    .await?;
    let client_secret = secret
        .ok_or_else(|| BenchError::Failed("the confidential application has no secret".into()))?;
    let root = format!("{}/{BROKER_TENANT}/{POLICY}", target.base);
    Ok(BrokerTarget {
        tenant: BROKER_TENANT.into(),
        policy: POLICY.into(),
        issuer: format!("{root}/v2.0"),
        authorize: format!("{root}/oauth2/v2.0/authorize"),
        token: format!("{root}/oauth2/v2.0/token"),
        jwks: format!("{root}/discovery/v2.0/keys"),
        client_id: application.client_id.to_string(),
        client_secret,
    })
}

impl Driver {
    /// One complete federated sign-in of `user` with a fresh cookie jar (see the module documentation); with `jwks`
    /// (the broker's), the app's ID token signature is verified too.
    pub async fn federated_sign_in(
        &self,
        broker: &BrokerTarget,
        user: &BenchUser,
        jwks: Option<&JwkSet>,
    ) -> Result<SignedIn, BenchError> {
        let mut jar = Jar::default();
        let pkce = Pkce::new()?;
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("response_type", "code"),
                ("client_id", broker.client_id.as_str()),
                ("redirect_uri", REDIRECT_URI),
                ("scope", "openid"),
                ("state", pkce.state.as_str()),
                ("nonce", pkce.nonce.as_str()),
                ("code_challenge", pkce.challenge.as_str()),
                ("code_challenge_method", "S256"),
            ])
            .finish();
        let upstream = self
            .redirect(
                &mut jar,
                &format!("{}?{query}", broker.authorize),
                "broker authorize",
            )
            .await?;
        let sign_in_page = self
            .redirect(&mut jar, &upstream, "provider authorize")
            .await?;
        let authz = authz_of(&sign_in_page).ok_or_else(|| {
            BenchError::Failed(format!("provider authorize: no authz in {sign_in_page}"))
        })?;
        let done = self.passkey(&mut jar, authz, user).await?;
        let next = done["next"]
            .as_str()
            .ok_or_else(|| BenchError::Failed("verify: no next".into()))?;
        let response = self
            .http
            .get(format!("{}{next}", self.target.base))
            .header("cookie", jar.header())
            .send()
            .await
            .map_err(step_error("provider resume"))?;
        jar.absorb(response.headers());
        let status = response.status();
        let html = response
            .text()
            .await
            .map_err(step_error("provider resume"))?;
        if status != reqwest::StatusCode::OK {
            return Err(BenchError::Failed(format!(
                "provider resume: status {status}, expected the form_post page"
            )));
        }
        let (action, fields) = form_post_fields(&html).ok_or_else(|| {
            BenchError::Failed("provider resume: no form_post form in the page".into())
        })?;
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&fields)
            .finish();
        let response = self
            .http
            .post(&action)
            .header("cookie", jar.header())
            .header("origin", self.target.base.as_str())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(step_error("broker authresp"))?;
        jar.absorb(response.headers());
        let location = see_other(&response, "broker authresp")?;
        let code = code_of(&location, &pkce.state, &broker.issuer, "broker authresp")?;
        let id_token = self
            .token_at(
                &TokenEndpoint {
                    url: &broker.token,
                    issuer: &broker.issuer,
                    client_id: &broker.client_id,
                    client_secret: &broker.client_secret,
                },
                &code,
                &pkce,
                jwks,
            )
            .await?;
        Ok(SignedIn { id_token })
    }

    /// The broker's published JWK Set.
    pub async fn broker_jwks(&self, broker: &BrokerTarget) -> Result<JwkSet, BenchError> {
        self.jwks_at(&broker.jwks).await
    }

    /// `GET url` with the jar's cookies, expecting a 302/303; returns the `Location` made absolute.
    async fn redirect(
        &self,
        jar: &mut Jar,
        url: &str,
        step: &'static str,
    ) -> Result<String, BenchError> {
        let response = self
            .http
            .get(url)
            .header("cookie", jar.header())
            .send()
            .await
            .map_err(step_error(step))?;
        jar.absorb(response.headers());
        let location = see_other(&response, step)?;
        Ok(if location.starts_with('/') {
            format!("{}{location}", self.target.base)
        } else {
            location
        })
    }
}

/// The action and fields of a `form_post` page (`<form method="post" action="...">` and its hidden inputs), with
/// the HTML character references the provider writes (`&amp; &lt; &gt; &quot; &#39;`) decoded.
pub fn form_post_fields(html: &str) -> Option<(String, Vec<(String, String)>)> {
    let action = attribute(html.split("<form").nth(1)?, "action")?;
    let fields = html
        .split("<input")
        .skip(1)
        .filter_map(|input| Some((attribute(input, "name")?, attribute(input, "value")?)))
        .collect();
    Some((action, fields))
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let tag = tag.split('>').next()?;
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = tag[start..].find('"')? + start;
    Some(unescape(&tag[start..end]))
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_post_page_is_read_back_into_its_action_and_fields() {
        let html = "<!DOCTYPE html>\n<html><body>\n<form method=\"post\" action=\"http://localhost:1/b/oauth2/authresp\">\n\
                    <input type=\"hidden\" name=\"code\" value=\"a&amp;b\">\n\
                    <input type=\"hidden\" name=\"state\" value=\"&quot;s&#39;\">\n</form></body></html>";
        let (action, fields) = form_post_fields(html).expect("a form");
        assert_eq!(action, "http://localhost:1/b/oauth2/authresp");
        assert_eq!(
            fields,
            vec![
                ("code".to_owned(), "a&b".to_owned()),
                ("state".to_owned(), "\"s'".to_owned())
            ]
        );
        assert!(form_post_fields("<html>no form</html>").is_none());
    }
}
