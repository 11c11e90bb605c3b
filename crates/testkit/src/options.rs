//! The few members of ceremony options JSON that an authenticator needs.
//!
//! Both the bare `PublicKeyCredential*OptionsJSON` and the `{"publicKey": {...}}` wrapper are accepted.

use serde_json::Value;

use crate::cbor::b64url_decode;
use crate::error::TestkitError;

/// What an authenticator reads from `PublicKeyCredentialCreationOptionsJSON`.
#[derive(Debug, Clone)]
pub(crate) struct CreationOptions {
    pub challenge: Vec<u8>,
    pub rp_id: Option<String>,
    pub user_id: Vec<u8>,
    pub algs: Vec<i64>,
}

/// What an authenticator reads from `PublicKeyCredentialRequestOptionsJSON`.
#[derive(Debug, Clone)]
pub(crate) struct RequestOptions {
    pub challenge: Vec<u8>,
    pub rp_id: Option<String>,
}

/// Parses options JSON and removes a `publicKey` wrapper if there is one.
pub(crate) fn options_object(json: &str) -> Result<Value, TestkitError> {
    let value: Value =
        serde_json::from_str(json).map_err(|e| TestkitError::OptionsNotJson(e.to_string()))?;
    let inner = match value.get("publicKey") {
        Some(inner) => inner.clone(),
        None => value,
    };
    if inner.is_object() {
        Ok(inner)
    } else {
        Err(TestkitError::OptionsNotJson("not an object".into()))
    }
}

fn b64_field(value: &Value, name: &'static str) -> Result<Vec<u8>, TestkitError> {
    let text = value
        .get(name)
        .and_then(Value::as_str)
        .ok_or(TestkitError::MissingOption(name))?;
    b64url_decode(text).ok_or(TestkitError::OptionNotBase64url(name))
}

impl CreationOptions {
    pub(crate) fn parse(json: &str) -> Result<CreationOptions, TestkitError> {
        let options = options_object(json)?;
        let challenge = b64_field(&options, "challenge")?;
        let rp = options.get("rp").ok_or(TestkitError::MissingOption("rp"))?;
        let rp_id = rp.get("id").and_then(Value::as_str).map(str::to_owned);
        let user = options
            .get("user")
            .ok_or(TestkitError::MissingOption("user"))?;
        let user_id = b64_field(user, "id").map_err(|e| match e {
            TestkitError::MissingOption(_) => TestkitError::MissingOption("user.id"),
            _ => TestkitError::OptionNotBase64url("user.id"),
        })?;
        let algs = options
            .get("pubKeyCredParams")
            .and_then(Value::as_array)
            .map(|params| {
                params
                    .iter()
                    .filter_map(|p| p.get("alg").and_then(Value::as_i64))
                    .collect()
            })
            .unwrap_or_default();
        Ok(CreationOptions {
            challenge,
            rp_id,
            user_id,
            algs,
        })
    }
}

impl RequestOptions {
    pub(crate) fn parse(json: &str) -> Result<RequestOptions, TestkitError> {
        let options = options_object(json)?;
        let challenge = b64_field(&options, "challenge")?;
        let rp_id = options
            .get("rpId")
            .and_then(Value::as_str)
            .map(str::to_owned);
        Ok(RequestOptions { challenge, rp_id })
    }
}

/// The RP ID a browser uses by default: the origin's host.
pub(crate) fn default_rp_id(origin: &str) -> Result<String, TestkitError> {
    let url = url::Url::parse(origin).map_err(|_| TestkitError::BadOrigin(origin.to_owned()))?;
    url.host_str()
        .map(str::to_owned)
        .ok_or_else(|| TestkitError::BadOrigin(origin.to_owned()))
}
