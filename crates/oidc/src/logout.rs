//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0 §2-3): which client asks, and whether to redirect
//! to its `post_logout_redirect_uri`. Without a client known from `id_token_hint` or `client_id`, or with an
//! unregistered URI, there is no redirect (no open redirector, RFC 9700 §4.11).

use serde_json::Value;
use tessera_core::ClientId;

use crate::client::ClientConfig;
use crate::error::OidcError;
use crate::jose::verify_jws;
use crate::keys::VerifyingKey;

/// A parsed logout request (GET query or POST form). `Debug` does not show the ID token.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct LogoutRequest {
    /// An ID token this issuer gave the client.
    pub id_token_hint: Option<String>,
    /// The client, when named explicitly.
    pub client_id: Option<String>,
    /// Where to send the browser afterwards.
    pub post_logout_redirect_uri: Option<String>,
    /// Echoed to the post-logout redirect.
    pub state: Option<String>,
    /// Preferred languages for the logout page.
    pub ui_locales: Vec<String>,
}

impl std::fmt::Debug for LogoutRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogoutRequest")
            .field(
                "id_token_hint",
                &tessera_core::secret::redacted_option(&self.id_token_hint),
            )
            .field("client_id", &self.client_id)
            .field("post_logout_redirect_uri", &self.post_logout_redirect_uri)
            .field("state", &self.state)
            .field("ui_locales", &self.ui_locales)
            .finish()
    }
}

/// Parses the pairs; repeated parameters are refused, unknown ones ignored, empty ones count as absent.
pub fn parse_logout_request(pairs: &[(String, String)]) -> Result<LogoutRequest, OidcError> {
    let get = |name: &'static str| -> Result<Option<String>, OidcError> {
        let mut values = pairs
            .iter()
            .filter(|(n, v)| n == name && !v.is_empty())
            .map(|(_, v)| v.clone());
        let first = values.next();
        if values.next().is_some() {
            return Err(OidcError::DuplicateParameter {
                name: name.to_owned(),
            });
        }
        Ok(first)
    };
    Ok(LogoutRequest {
        id_token_hint: get("id_token_hint")?,
        client_id: get("client_id")?,
        post_logout_redirect_uri: get("post_logout_redirect_uri")?,
        state: get("state")?,
        ui_locales: get("ui_locales")?
            .map(|v| {
                v.split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
    })
}

/// Who the logout request concerns, once the hint is verified.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogoutPlan {
    /// The client asking (from the hint's audience, or `client_id`), to look up for its registered URIs.
    pub client_id: Option<ClientId>,
    /// The user the hint names: end that user's session only (or ask the user to confirm otherwise).
    pub hinted_sub: Option<String>,
    /// The session id the hint names.
    pub hinted_sid: Option<String>,
}

impl LogoutPlan {
    /// The session the hint names by its public handle, with the user it must belong to: `(sid, sub)`. That session
    /// ends whichever browser holds it.
    pub fn session_to_end(&self) -> Option<(&str, &str)> {
        match (&self.hinted_sid, &self.hinted_sub) {
            (Some(sid), Some(sub)) => Some((sid, sub)),
            _ => None,
        }
    }

    /// Whether the hint names the browser's session (public handle `sid`, user `sub`), so that it ends without asking:
    /// by `sid` when the hint carries one, else by `sub`. Without a hint, no session is named.
    pub fn names_session(&self, sid: &str, sub: &str) -> bool {
        match (&self.hinted_sid, &self.hinted_sub) {
            (Some(hinted), Some(user)) => hinted == sid && user == sub,
            (None, Some(user)) => user == sub,
            (_, None) => false,
        }
    }
}

/// Verifies the `id_token_hint` (our signature and issuer; an expired hint is fine) and resolves the client. A
/// `client_id` that differs from the hint's audience is refused.
pub fn plan_logout(
    request: &LogoutRequest,
    issuer: &str,
    keys: &[VerifyingKey],
) -> Result<LogoutPlan, OidcError> {
    let mut plan = LogoutPlan::default();
    let explicit = match &request.client_id {
        Some(id) => Some(
            ClientId::parse(id).map_err(|_| OidcError::MalformedParameter { name: "client_id" })?,
        ),
        None => None,
    };
    if let Some(hint) = &request.id_token_hint {
        let jwt = verify_jws(hint, keys).map_err(|_| OidcError::InvalidIdTokenHint)?;
        if jwt.str_claim("iss") != Some(issuer) {
            return Err(OidcError::InvalidIdTokenHint);
        }
        let audience = match jwt.claims.get("aud") {
            Some(Value::String(a)) => Some(a.clone()),
            Some(Value::Array(items)) if items.len() == 1 => items[0].as_str().map(str::to_owned),
            _ => jwt.str_claim("azp").map(str::to_owned),
        };
        let hinted_client = audience
            .and_then(|a| ClientId::parse(&a).ok())
            .ok_or(OidcError::InvalidIdTokenHint)?;
        if explicit.as_ref().is_some_and(|c| c != &hinted_client) {
            return Err(OidcError::ClientIdMismatch);
        }
        plan.client_id = Some(hinted_client);
        plan.hinted_sub = jwt.str_claim("sub").map(str::to_owned);
        plan.hinted_sid = jwt.str_claim("sid").map(str::to_owned);
    } else {
        plan.client_id = explicit;
    }
    Ok(plan)
}

/// Where to send the browser after logging out: `Ok(Some(url))` with `state` appended when the URI is registered
/// for `client` (the one [`LogoutPlan::client_id`] names), `Ok(None)` when no URI was asked for, and an error when
/// one was asked for but cannot be honoured; then show the logged-out page instead.
pub fn post_logout_redirect(
    request: &LogoutRequest,
    client: Option<&ClientConfig>,
) -> Result<Option<String>, OidcError> {
    let Some(uri) = &request.post_logout_redirect_uri else {
        return Ok(None);
    };
    let client = client.ok_or(OidcError::UnregisteredPostLogoutRedirectUri)?;
    if !client.post_logout_redirect_uri_registered(uri) {
        return Err(OidcError::UnregisteredPostLogoutRedirectUri);
    }
    let mut url = url::Url::parse(uri).map_err(|_| OidcError::UnregisteredPostLogoutRedirectUri)?;
    if let Some(state) = &request.state {
        url.query_pairs_mut().append_pair("state", state);
    }
    Ok(Some(url.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_a_logout_request_does_not_show_the_id_token() {
        let request = LogoutRequest {
            id_token_hint: Some("eyJ.payload-SECRET.sig".into()),
            state: Some("st".into()),
            ..LogoutRequest::default()
        };
        let shown = format!("{request:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("Some([redacted])"), "{shown}");
    }
    use crate::client::ClientAuthConfig;
    use crate::jose::sign_jwt;
    use crate::keys::{SigningAlg, SigningKey};

    const ISS: &str = "https://op.example/acme/oidc";

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    fn client() -> ClientConfig {
        ClientConfig {
            client_id: ClientId::parse("rp").expect("id"),
            redirect_uris: vec![],
            post_logout_redirect_uris: vec!["https://rp.example/bye".into()],
            auth: ClientAuthConfig::None,
            allowed_scopes: vec![],
            id_token_alg: SigningAlg::Es256,
        }
    }

    #[test]
    fn registered_post_logout_redirect_with_state() {
        let key = SigningKey::generate(SigningAlg::Es256).expect("key");
        let hint = sign_jwt(
            &key,
            &serde_json::json!({"iss": ISS, "aud": "rp", "sub": "u1", "sid": "s1"}),
        )
        .expect("s");
        let req = parse_logout_request(&pairs(&[
            ("id_token_hint", &hint),
            ("post_logout_redirect_uri", "https://rp.example/bye"),
            ("state", "x y"),
        ]))
        .expect("parse");
        let plan = plan_logout(&req, ISS, std::slice::from_ref(key.verifying_key())).expect("plan");
        assert_eq!(plan.client_id.as_ref().map(ClientId::as_str), Some("rp"));
        assert_eq!(plan.hinted_sub.as_deref(), Some("u1"));
        assert_eq!(plan.hinted_sid.as_deref(), Some("s1"));
        assert_eq!(
            post_logout_redirect(&req, Some(&client())),
            Ok(Some("https://rp.example/bye?state=x+y".into()))
        );
    }

    #[test]
    fn unregistered_post_logout_redirect_not_followed() {
        let req = parse_logout_request(&pairs(&[
            ("client_id", "rp"),
            ("post_logout_redirect_uri", "https://evil.example/"),
        ]))
        .expect("parse");
        assert_eq!(
            post_logout_redirect(&req, Some(&client())),
            Err(OidcError::UnregisteredPostLogoutRedirectUri)
        );
    }

    #[test]
    fn post_logout_redirect_without_known_client_not_followed() {
        let req = parse_logout_request(&pairs(&[(
            "post_logout_redirect_uri",
            "https://rp.example/bye",
        )]))
        .expect("p");
        let plan = plan_logout(&req, ISS, &[]).expect("plan");
        assert_eq!(plan.client_id, None);
        assert_eq!(
            post_logout_redirect(&req, None),
            Err(OidcError::UnregisteredPostLogoutRedirectUri)
        );
    }

    #[test]
    fn forged_logout_hint_refused() {
        let key = SigningKey::generate(SigningAlg::Es256).expect("key");
        let other = SigningKey::generate(SigningAlg::Es256).expect("key");
        let hint = sign_jwt(
            &other,
            &serde_json::json!({"iss": ISS, "aud": "rp", "sub": "u1"}),
        )
        .expect("s");
        let req = parse_logout_request(&pairs(&[("id_token_hint", &hint)])).expect("parse");
        assert_eq!(
            plan_logout(&req, ISS, std::slice::from_ref(key.verifying_key())).err(),
            Some(OidcError::InvalidIdTokenHint)
        );
    }

    #[test]
    fn logout_client_id_must_match_hint_audience() {
        let key = SigningKey::generate(SigningAlg::Es256).expect("key");
        let hint = sign_jwt(
            &key,
            &serde_json::json!({"iss": ISS, "aud": "rp", "sub": "u1"}),
        )
        .expect("s");
        let req = parse_logout_request(&pairs(&[("id_token_hint", &hint), ("client_id", "other")]))
            .expect("parse");
        assert_eq!(
            plan_logout(&req, ISS, std::slice::from_ref(key.verifying_key())).err(),
            Some(OidcError::ClientIdMismatch)
        );
    }

    fn plan(sid: Option<&str>, sub: Option<&str>) -> LogoutPlan {
        LogoutPlan {
            client_id: None,
            hinted_sub: sub.map(str::to_owned),
            hinted_sid: sid.map(str::to_owned),
        }
    }

    #[test]
    fn hint_with_sid_names_only_that_session() {
        let p = plan(Some("s1"), Some("alice"));
        assert_eq!(p.session_to_end(), Some(("s1", "alice")));
        assert!(p.names_session("s1", "alice"));
        assert!(
            !p.names_session("s2", "alice"),
            "another session of the same user"
        );
        assert!(
            !p.names_session("s1", "bob"),
            "the sid of another user's session"
        );
    }

    #[test]
    fn hint_without_sid_names_the_users_session() {
        let p = plan(None, Some("alice"));
        assert_eq!(p.session_to_end(), None);
        assert!(p.names_session("any", "alice"));
        assert!(!p.names_session("any", "bob"));
    }

    #[test]
    fn no_hint_names_no_session() {
        let p = plan(None, None);
        assert_eq!(p.session_to_end(), None);
        assert!(!p.names_session("s1", "alice"));
        assert!(!plan(Some("s1"), None).names_session("s1", "alice"));
    }

    #[test]
    fn duplicate_logout_parameter_refused() {
        let r = parse_logout_request(&pairs(&[("state", "a"), ("state", "b")]));
        assert_eq!(
            r.err(),
            Some(OidcError::DuplicateParameter {
                name: "state".into()
            })
        );
    }
}
