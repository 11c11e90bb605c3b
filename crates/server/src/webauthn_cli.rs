//! `tessera webauthn ...`: verification and inspection of WebAuthn responses from the command line.
//!
//! `verify-registration` and `verify-authentication` read one response in the WebAuthn JSON serialization on stdin,
//! run it through `tessera-webauthn` (the same code the server runs) and print ONE JSON object:
//! `{"ok": true, ...}` (exit 0), `{"ok": false, "error": "<rule>", "message": "..."}` (exit 1, refused) or
//! `{"ok": false, "error": "unusable-input", "message": "..."}` (exit 2: stdin is not JSON, a flag value does not
//! parse, a file cannot be read). `inspect` decodes any response into readable JSON without judging it.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{
    GeneralPurpose, GeneralPurposeConfig, STANDARD, URL_SAFE_NO_PAD,
};
use ciborium::Value as Cbor;
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use x509_parser::prelude::{FromDer, X509Certificate};

use tessera_service::tenants::{PolicyChange, parse_certification_level};
use tessera_webauthn::SyncedPasskeys;
use tessera_webauthn::attestation::pem::certificates_from_pem_or_der;
use tessera_webauthn::attestation::{
    AttestationRequirement, AttestationTrust, SafetyNetCtsProfile, TpmTestManufacturer,
};
use tessera_webauthn::authentication::{
    AuthenticationExpectation, CredentialRecord, UserIdentification, VerifiedAuthentication,
    verify_authentication,
};
use tessera_webauthn::registration::{
    Mediation, RegistrationExpectation, VerifiedRegistration, verify_registration,
};
use tessera_webauthn::{
    AuthenticationResponseJSON, AuthenticatorData, AuthenticatorFlags, AuthenticatorPolicy,
    CollectedClientData, CoseAlgorithm, CoseKey, CoseKeyParams, CrossOriginPolicy, OriginPolicy,
    RegistrationResponseJSON, SignCountPolicy, WebauthnError,
};

/// Largest response read from stdin.
const MAX_INPUT: u64 = 1024 * 1024;
/// The algorithms offered when no `--alg` is given: ES256, EdDSA, RS256, PS256, ES384.
const DEFAULT_ALGS: [i64; 5] = [-7, -8, -257, -37, -35];
/// The FIDO `id-fido-gen-ce-aaguid` certificate extension.
const OID_FIDO_AAGUID: &str = "1.3.6.1.4.1.45724.1.1.4";

/// WebAuthn operator tools.
#[derive(Debug, Subcommand)]
pub enum WebauthnCommand {
    /// Verify a registration response (RegistrationResponseJSON on stdin), WebAuthn L3 §7.1.
    VerifyRegistration(RegistrationArgs),
    /// Verify an authentication response (AuthenticationResponseJSON on stdin), WebAuthn L3 §7.2.
    VerifyAuthentication(AuthenticationArgs),
    /// Decode any response (registration or authentication, on stdin) into readable JSON, without verifying it.
    Inspect,
}

/// Flags shared by both ceremonies.
#[derive(Debug, Args)]
pub struct CeremonyArgs {
    /// An RP ID whose SHA-256 is accepted as rpIdHash (repeatable).
    #[arg(long = "rp-id", required = true)]
    rp_id: Vec<String>,
    /// An allowed origin, compared exactly (repeatable).
    #[arg(long = "origin", required = true)]
    origin: Vec<String>,
    /// The challenge issued for the ceremony (base64url).
    #[arg(long, allow_hyphen_values = true)]
    challenge: String,
    /// Require the UV flag (the default: passwordless means user verification).
    #[arg(long, overrides_with = "no_require_uv")]
    require_uv: bool,
    /// Do not require the UV flag.
    #[arg(long, overrides_with = "require_uv")]
    no_require_uv: bool,
    /// Allow cross-origin iframes under this top-level origin (repeatable); without it crossOrigin is refused.
    #[arg(long = "top-origin")]
    top_origin: Vec<String>,
}

/// Flags of `verify-registration`.
#[derive(Debug, Args)]
pub struct RegistrationArgs {
    #[command(flatten)]
    ceremony: CeremonyArgs,
    /// A COSE algorithm id offered in pubKeyCredParams (repeatable; default -7 -8 -257 -37 -35).
    #[arg(long = "alg", allow_negative_numbers = true)]
    alg: Vec<i64>,
    /// The time at which certificates are judged (RFC 3339; default: now).
    #[arg(long)]
    now: Option<String>,
    /// PEM file of trust anchors (root or intermediate certificates) for attestation chains.
    #[arg(long)]
    trust_anchors: Option<PathBuf>,
    /// Refuse attestations that do not chain to a trust anchor (including `none` and self attestation).
    #[arg(long)]
    require_trusted_attestation: bool,
    /// A FIDO MDS3 metadata BLOB (JWS) used for trust anchors and status reports; needs --mds-root.
    #[arg(long, requires = "mds_root")]
    mds: Option<PathBuf>,
    /// The PEM root certificate the MDS3 BLOB's signing chain must reach.
    #[arg(long, requires = "mds")]
    mds_root: Option<PathBuf>,
    /// Conditional create (automatic passkey upgrade): user presence is not required.
    #[arg(long)]
    conditional: bool,
    /// Accept the FIDO conformance tool's TPM manufacturer id:FFFFF1D0 (testing only).
    #[arg(long)]
    insecure_allow_tpm_test_manufacturer: bool,
    /// Accept SafetyNet attestations whose ctsProfileMatch is false.
    #[arg(long)]
    insecure_ignore_safetynet_cts: bool,
    /// Accept RSASSA-PKCS1-v1_5 with SHA-1 (RS1, -65535) keys and attestation signatures.
    #[arg(long)]
    insecure_allow_rs1: bool,
    /// Synced (backup-eligible) passkeys: `allow` (default) or `deny`.
    #[arg(long, value_enum)]
    synced_passkeys: Option<crate::operator::AllowDeny>,
    /// Only these authenticator models (AAGUID, repeatable); a trusted attestation must vouch for the model.
    #[arg(long = "aaguid-allow", value_parser = crate::operator::parse_aaguid)]
    aaguid_allow: Vec<tessera_webauthn::Aaguid>,
    /// Refuse these authenticator models (AAGUID, repeatable).
    #[arg(long = "aaguid-deny", value_parser = crate::operator::parse_aaguid)]
    aaguid_deny: Vec<tessera_webauthn::Aaguid>,
    /// Minimum FIDO certification level from the MDS3 BLOB (L1, L1plus, L2, L2plus, L3, L3plus, certified).
    #[arg(long)]
    min_certification_level: Option<String>,
}

impl RegistrationArgs {
    /// The tenant-policy flags, as the `tessera idp tenant` commands apply them.
    fn policy_change(&self) -> Result<PolicyChange, Unusable> {
        let minimum_certification_level = match &self.min_certification_level {
            Some(text) => {
                Some(Some(parse_certification_level(text).map_err(|e| {
                    Unusable::new(format!("--min-certification-level: {e}"))
                })?))
            }
            None => None,
        };
        let change = PolicyChange {
            aaguid_allow: (!self.aaguid_allow.is_empty()).then(|| self.aaguid_allow.clone()),
            aaguid_deny: (!self.aaguid_deny.is_empty()).then(|| self.aaguid_deny.clone()),
            minimum_certification_level,
            synced_passkeys: self.synced_passkeys.map(|s| match s {
                crate::operator::AllowDeny::Allow => SyncedPasskeys::Allow,
                crate::operator::AllowDeny::Deny => SyncedPasskeys::Refuse,
            }),
            ..PolicyChange::default()
        };
        Ok(change)
    }
}

/// Flags of `verify-authentication`.
#[derive(Debug, Args)]
pub struct AuthenticationArgs {
    #[command(flatten)]
    ceremony: CeremonyArgs,
    /// The stored credential public key (COSE_Key, base64url).
    #[arg(long, allow_hyphen_values = true)]
    public_key: String,
    /// The stored signature counter.
    #[arg(long, default_value_t = 0)]
    sign_count: u32,
    /// The stored credential id (base64url; default: the response's rawId).
    #[arg(long, allow_hyphen_values = true)]
    credential_id: Option<String>,
    /// The identified user's handle (base64url): the response's userHandle, if any, must equal it.
    #[arg(long, allow_hyphen_values = true)]
    user_handle: Option<String>,
    /// Discoverable sign-in (no username): the response must carry a userHandle (equal to --user-handle if given).
    #[arg(long)]
    discoverable: bool,
    /// A credential id sent in allowCredentials (base64url, repeatable).
    #[arg(long = "allow-credential", allow_hyphen_values = true)]
    allow_credential: Vec<String>,
    /// The stored backup eligibility (default: whatever the response reports, i.e. not checked).
    #[arg(long)]
    backup_eligible: Option<bool>,
    /// The legacy U2F AppID sent in the `appid` extension.
    #[arg(long)]
    appid: Option<String>,
    /// What a sign counter that did not increase does.
    #[arg(long, value_enum, default_value_t = CloneSignal::Reject)]
    sign_count_policy: CloneSignal,
    /// Accept RSASSA-PKCS1-v1_5 with SHA-1 (RS1, -65535) signatures.
    #[arg(long)]
    insecure_allow_rs1: bool,
}

/// Handling of the sign-count clone signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CloneSignal {
    /// Refuse the assertion.
    Reject,
    /// Accept it and report `sign_count_regressed: true`.
    Report,
}

/// Why a command could not run at all (exit 2).
#[derive(Debug)]
struct Unusable {
    message: String,
    /// The rule a supplied file broke (an MDS3 BLOB's), when there is one.
    rule: Option<&'static str>,
}

impl Unusable {
    fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            rule: None,
        }
    }
}

/// The outcome of a command: the JSON to print and the exit code.
struct Outcome {
    json: Value,
    code: u8,
}

/// Runs a `tessera webauthn` command.
pub fn run(command: WebauthnCommand) -> ExitCode {
    let outcome = match read_stdin() {
        Err(e) => unusable(e),
        Ok(input) => match command {
            WebauthnCommand::VerifyRegistration(args) => registration(&args, &input),
            WebauthnCommand::VerifyAuthentication(args) => authentication(&args, &input),
            WebauthnCommand::Inspect => match inspect(&input) {
                Ok(json) => Outcome { json, code: 0 },
                Err(e) => unusable(e),
            },
        },
    };
    // Pretty output for people; one object either way.
    match serde_json::to_string_pretty(&outcome.json) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("could not serialize the result: {e}"),
    }
    ExitCode::from(outcome.code)
}

fn read_stdin() -> Result<Vec<u8>, Unusable> {
    let mut input = Vec::new();
    std::io::stdin()
        .take(MAX_INPUT + 1)
        .read_to_end(&mut input)
        .map_err(|e| Unusable::new(format!("cannot read stdin: {e}")))?;
    if input.len() as u64 > MAX_INPUT {
        return Err(Unusable::new(format!(
            "stdin is larger than {MAX_INPUT} bytes"
        )));
    }
    Ok(input)
}

fn unusable(e: Unusable) -> Outcome {
    let mut json = json!({"ok": false, "error": "unusable-input", "message": e.message});
    if let (Some(rule), Some(map)) = (e.rule, json.as_object_mut()) {
        map.insert("rule".into(), json!(rule));
    }
    Outcome { json, code: 2 }
}

fn refused(e: &WebauthnError) -> Outcome {
    let mut json = json!({"ok": false, "error": e.rule(), "message": e.to_string()});
    // A delegated attestation failure also names its own rule, when the top-level one is coarser.
    let detail = match e {
        WebauthnError::Attestation(inner) if inner.rule() != e.rule() => Some(inner.rule()),
        _ => None,
    };
    if let (Some(detail), Some(map)) = (detail, json.as_object_mut()) {
        map.insert("detail".into(), json!(detail));
    }
    Outcome { json, code: 1 }
}

/// A response that is JSON but not a well-formed WebAuthn credential (missing members, undecodable base64url) is
/// refused like any other malformed response; only input that is not JSON at all is unusable (exit 2).
fn parse_failure(input: &[u8], e: &WebauthnError) -> Outcome {
    if serde_json::from_slice::<Value>(input).is_err() {
        return Outcome {
            json: json!({"ok": false, "error": "unusable-input", "message": format!("stdin is not JSON: {e}")}),
            code: 2,
        };
    }
    refused(e)
}

/// Operator-typed base64url: padding, the standard alphabet and non-canonical trailing bits are tolerated.
const LENIENT_URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);
const LENIENT_STANDARD: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

fn b64url(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn b64url_flag(name: &str, text: &str) -> Result<Vec<u8>, Unusable> {
    LENIENT_URL
        .decode(text)
        .or_else(|_| LENIENT_STANDARD.decode(text))
        .map_err(|_| Unusable::new(format!("--{name} is not base64url")))
}

impl CeremonyArgs {
    fn origin_policy(&self) -> OriginPolicy {
        let mut policy = OriginPolicy::new(self.origin.clone());
        if !self.top_origin.is_empty() {
            policy.cross_origin = CrossOriginPolicy::AllowFrom(self.top_origin.clone());
        }
        policy
    }

    fn policy(&self) -> AuthenticatorPolicy {
        let user_verification = if self.no_require_uv {
            tessera_webauthn::json::UserVerificationRequirement::Preferred
        } else {
            tessera_webauthn::json::UserVerificationRequirement::Required
        };
        AuthenticatorPolicy {
            user_verification,
            ..AuthenticatorPolicy::default()
        }
    }
}

fn read_file(path: &Path, what: &str) -> Result<Vec<u8>, Unusable> {
    std::fs::read(path)
        .map_err(|e| Unusable::new(format!("cannot read {what} {}: {e}", path.display())))
}

/// Every certificate of a PEM file (or one DER certificate), as DER, read by the library the server uses.
fn certificate_file(path: &Path, what: &str) -> Result<Vec<Vec<u8>>, Unusable> {
    let data = read_file(path, what)?;
    certificates_from_pem_or_der(&data)
        .map_err(|e| Unusable::new(format!("{what} {} {e}", path.display())))
}

/// What `verify-registration` reads besides the response: decoded flags and files.
struct RegistrationInputs {
    challenge: Vec<u8>,
    now: OffsetDateTime,
    anchors: Vec<Vec<u8>>,
    metadata: Option<tessera_webauthn::mds::MetadataBlob>,
}

impl RegistrationInputs {
    fn read(args: &RegistrationArgs) -> Result<Self, Unusable> {
        let challenge = b64url_flag("challenge", &args.ceremony.challenge)?;
        let now = match &args.now {
            Some(text) => OffsetDateTime::parse(text, &Rfc3339)
                .map_err(|e| Unusable::new(format!("--now is not an RFC 3339 time: {e}")))?,
            None => OffsetDateTime::now_utc(),
        };
        let anchors = match &args.trust_anchors {
            Some(path) => certificate_file(path, "trust anchors")?,
            None => Vec::new(),
        };
        let metadata = match (&args.mds, &args.mds_root) {
            (Some(blob), Some(root)) => Some(mds::load(blob, root, now)?),
            _ => None,
        };
        Ok(Self {
            challenge,
            now,
            anchors,
            metadata,
        })
    }
}

fn registration(args: &RegistrationArgs, input: &[u8]) -> Outcome {
    let RegistrationInputs {
        challenge,
        now,
        anchors,
        metadata,
    } = match RegistrationInputs::read(args) {
        Ok(inputs) => inputs,
        Err(e) => return unusable(e),
    };
    let response = match RegistrationResponseJSON::from_json(input) {
        Ok(r) => r,
        Err(e) => return parse_failure(input, &e),
    };
    let algorithms = if args.alg.is_empty() {
        DEFAULT_ALGS.to_vec()
    } else {
        args.alg.clone()
    };
    let mut policy = args.ceremony.policy();
    policy.algorithms = algorithms.clone();
    policy.insecure_allow_rs1 = args.insecure_allow_rs1;
    match args.policy_change() {
        Ok(change) => change.apply(&mut policy),
        Err(e) => return unusable(e),
    }
    if let Err(e) = tessera_service::tenants::validate_policy(&policy) {
        return unusable(Unusable::new(e.to_string()));
    }
    let origins = args.ceremony.origin_policy();
    let mut trust = AttestationTrust::new(now);
    trust.trust_anchors = &anchors;
    trust.metadata = metadata.as_ref();
    if args.require_trusted_attestation {
        trust.requirement = AttestationRequirement::RequireTrusted;
    }
    if args.insecure_allow_tpm_test_manufacturer {
        trust.tpm_test_manufacturer = TpmTestManufacturer::InsecureAllow;
    }
    if args.insecure_ignore_safetynet_cts {
        trust.safetynet_cts = SafetyNetCtsProfile::InsecureIgnore;
    }
    let expectation = RegistrationExpectation {
        challenge: &challenge,
        origins: &origins,
        rp_ids: &args.ceremony.rp_id,
        algorithms: &algorithms,
        mediation: if args.conditional {
            Mediation::Conditional
        } else {
            Mediation::Modal
        },
        policy: &policy,
        trust,
    };
    // The CLI has no credential database: no id is registered yet.
    match verify_registration(&response, &expectation, |_| false) {
        Ok(verified) => Outcome {
            json: registration_json(&verified),
            code: 0,
        },
        Err(e) => refused(&e),
    }
}

fn flags_json(flags: AuthenticatorFlags) -> Value {
    json!({
        "byte": format!("0x{:02x}", flags.0),
        "up": flags.user_present(),
        "uv": flags.user_verified(),
        "be": flags.backup_eligible(),
        "bs": flags.backup_state(),
        "at": flags.attested_credential_data(),
        "ed": flags.extension_data(),
    })
}

fn registration_json(v: &VerifiedRegistration) -> Value {
    let chain: Vec<String> = v
        .attestation
        .trust_path
        .certificate_chain()
        .iter()
        .map(b64url)
        .collect();
    let transports: Vec<&str> = v.transports.iter().map(|t| t.as_str()).collect();
    json!({
        "ok": true,
        "ceremony": "registration",
        "credential_id": b64url(&v.credential_id),
        "public_key": b64url(&v.public_key_cbor),
        "algorithm": v.algorithm.id(),
        "algorithm_name": v.algorithm.name(),
        "aaguid": v.aaguid.to_string(),
        "attestation_format": v.attestation_format(),
        "trust_path": v.trust_path(),
        "attestation_trusted": v.attestation.trusted,
        "certificate_chain": chain,
        "flags": flags_json(v.flags),
        "sign_count": v.sign_count,
        "user_verified": v.user_verified,
        "backup_eligible": v.backup_eligible,
        "backup_state": v.backup_state,
        "transports": transports,
        "authenticator_attachment": v.authenticator_attachment,
        "discoverable": v.discoverable,
        "client_extension_results": v.client_extension_results,
        "extensions": v.authenticator_extensions.as_ref().map(cbor_json),
        "metadata": v.attestation.metadata.as_ref().map(|entry| json!({
            "description": entry.description,
            "status_reports": entry.status_reports.iter().map(|r| json!({
                "status": r.status.as_str(),
                "effective_date": r.effective_date.map(|d| d.to_string()),
            })).collect::<Vec<_>>(),
            "certification_level": entry.certification_level().map(|l| l.as_str()),
        })),
    })
}

/// What `verify-authentication` reads besides the response: decoded flags.
struct AuthenticationInputs {
    challenge: Vec<u8>,
    public_key: Vec<u8>,
    credential_id: Option<Vec<u8>>,
    user_handle: Option<Vec<u8>>,
    allow: Vec<Vec<u8>>,
}

impl AuthenticationInputs {
    fn read(args: &AuthenticationArgs) -> Result<Self, Unusable> {
        let optional = |name: &str, value: &Option<String>| {
            value.as_deref().map(|v| b64url_flag(name, v)).transpose()
        };
        Ok(Self {
            challenge: b64url_flag("challenge", &args.ceremony.challenge)?,
            public_key: b64url_flag("public-key", &args.public_key)?,
            credential_id: optional("credential-id", &args.credential_id)?,
            user_handle: optional("user-handle", &args.user_handle)?,
            allow: args
                .allow_credential
                .iter()
                .map(|id| b64url_flag("allow-credential", id))
                .collect::<Result<_, _>>()?,
        })
    }
}

fn authentication(args: &AuthenticationArgs, input: &[u8]) -> Outcome {
    let AuthenticationInputs {
        challenge,
        public_key,
        credential_id,
        user_handle,
        allow,
    } = match AuthenticationInputs::read(args) {
        Ok(inputs) => inputs,
        Err(e) => return unusable(e),
    };
    let response = match AuthenticationResponseJSON::from_json(input) {
        Ok(r) => r,
        Err(e) => return parse_failure(input, &e),
    };
    let response_handle = response
        .response
        .user_handle
        .as_ref()
        .map(|h| h.as_slice().to_vec())
        .unwrap_or_default();
    // Without --user-handle the CLI knows no account: the owner is whoever the response names (ownership unchecked).
    let owner = user_handle.clone().unwrap_or(response_handle);
    let reported_be =
        AuthenticatorData::from_bytes(response.response.authenticator_data.as_slice())
            .map(|d| d.flags.backup_eligible())
            .unwrap_or(false);
    let record = CredentialRecord {
        credential_id: credential_id.unwrap_or_else(|| response.raw_id.as_slice().to_vec()),
        user_handle: owner.clone(),
        public_key,
        sign_count: args.sign_count,
        backup_eligible: args.backup_eligible.unwrap_or(reported_be),
        backup_state: false,
        uv_initialized: false,
        transports: Vec::new(),
    };
    let mut policy = args.ceremony.policy();
    policy.insecure_allow_rs1 = args.insecure_allow_rs1;
    policy.sign_count = match args.sign_count_policy {
        CloneSignal::Reject => SignCountPolicy::RejectClone,
        CloneSignal::Report => SignCountPolicy::ReportOnly,
    };
    let origins = args.ceremony.origin_policy();
    let expectation = AuthenticationExpectation {
        challenge: &challenge,
        origins: &origins,
        rp_ids: &args.ceremony.rp_id,
        appid: args.appid.as_deref(),
        allow_credentials: &allow,
        user: if args.discoverable {
            UserIdentification::Discoverable
        } else {
            UserIdentification::Identified {
                user_handle: &owner,
            }
        },
        policy: &policy,
    };
    match verify_authentication(&response, &expectation, &record) {
        Ok(verified) => Outcome {
            json: authentication_json(&verified),
            code: 0,
        },
        Err(e) => refused(&e),
    }
}

fn authentication_json(v: &VerifiedAuthentication) -> Value {
    json!({
        "ok": true,
        "ceremony": "authentication",
        "credential_id": b64url(&v.credential_id),
        "user_handle": b64url(&v.user_handle),
        "algorithm": v.algorithm.id(),
        "algorithm_name": v.algorithm.name(),
        "flags": flags_json(v.flags),
        "sign_count": v.sign_count,
        "sign_count_regressed": v.sign_count_regressed,
        "user_verified": v.user_verified,
        "backup_eligible": v.backup_eligible,
        "backup_state": v.backup_state,
        "appid_used": v.appid_used,
        "authenticator_attachment": v.authenticator_attachment,
        "extensions": v.authenticator_extensions.as_ref().map(cbor_json),
    })
}

// ---- inspect -------------------------------------------------------------------------------------------------------

fn inspect(input: &[u8]) -> Result<Value, Unusable> {
    let root: Value = serde_json::from_slice(input)
        .map_err(|e| Unusable::new(format!("stdin is not JSON: {e}")))?;
    let response = root
        .get("response")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            Unusable::new("stdin has no `response` object: not a WebAuthn credential")
        })?;
    let field = |name: &str| -> Result<Option<Vec<u8>>, Unusable> {
        match response.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => URL_SAFE_NO_PAD
                .decode(text.trim_end_matches('='))
                .or_else(|_| STANDARD.decode(text))
                .map(Some)
                .map_err(|_| Unusable::new(format!("response.{name} is not base64url"))),
            Some(_) => Err(Unusable::new(format!("response.{name} is not a string"))),
        }
    };
    let mut out = Map::new();
    let kind = if response.contains_key("attestationObject") {
        "registration"
    } else {
        "authentication"
    };
    out.insert("kind".into(), json!(kind));
    for (from, to) in [("id", "id"), ("rawId", "raw_id"), ("type", "type")] {
        out.insert(to.into(), root.get(from).cloned().unwrap_or(Value::Null));
    }
    out.insert(
        "id_matches_raw_id".into(),
        json!(root.get("id").is_some() && root.get("id") == root.get("rawId")),
    );
    out.insert(
        "authenticator_attachment".into(),
        root.get("authenticatorAttachment")
            .cloned()
            .unwrap_or(Value::Null),
    );
    out.insert(
        "client_extension_results".into(),
        root.get("clientExtensionResults")
            .cloned()
            .unwrap_or(Value::Null),
    );

    if let Some(cdj) = field("clientDataJSON")? {
        out.insert("client_data".into(), inspect_client_data(&cdj));
    }
    if let Some(attestation_object) = field("attestationObject")? {
        let (attestation, auth_data) = inspect_attestation_object(&attestation_object);
        out.insert("attestation".into(), attestation);
        if let Some(auth_data) = auth_data {
            out.insert("authenticator_data".into(), inspect_auth_data(&auth_data));
        }
        if let Some(transports) = response.get("transports") {
            out.insert("transports".into(), transports.clone());
        }
        if let Some(alg) = response.get("publicKeyAlgorithm") {
            out.insert("public_key_algorithm".into(), alg.clone());
        }
    } else if let Some(auth_data) = field("authenticatorData")? {
        out.insert("authenticator_data".into(), inspect_auth_data(&auth_data));
    }
    if let Some(signature) = field("signature")? {
        out.insert(
            "signature".into(),
            json!({"base64url": b64url(&signature), "length": signature.len()}),
        );
    }
    if let Some(handle) = field("userHandle")? {
        out.insert("user_handle".into(), bytes_json(&handle));
    }
    Ok(Value::Object(out))
}

/// Bytes as base64url, and as text too when they are printable UTF-8.
fn bytes_json(bytes: &[u8]) -> Value {
    let mut out = json!({"base64url": b64url(bytes), "length": bytes.len()});
    if let (Ok(text), Some(map)) = (std::str::from_utf8(bytes), out.as_object_mut())
        && text.chars().all(|c| !c.is_control())
    {
        map.insert("utf8".into(), json!(text));
    }
    out
}

fn error_json(e: &WebauthnError) -> Value {
    json!({"error": e.rule(), "message": e.to_string()})
}

fn inspect_client_data(bytes: &[u8]) -> Value {
    let mut out = Map::new();
    out.insert("raw".into(), json!(String::from_utf8_lossy(bytes)));
    if let Ok(parsed) = serde_json::from_slice::<Value>(bytes) {
        if let Some(challenge) = parsed.get("challenge").and_then(Value::as_str)
            && let Ok(raw) = URL_SAFE_NO_PAD.decode(challenge)
        {
            out.insert("challenge_bytes".into(), bytes_json(&raw));
        }
        out.insert("json".into(), parsed);
    }
    let strict = match CollectedClientData::parse(bytes) {
        Ok(_) => json!("ok"),
        Err(e) => error_json(&e),
    };
    out.insert("strict_parse".into(), strict);
    Value::Object(out)
}

fn inspect_attestation_object(bytes: &[u8]) -> (Value, Option<Vec<u8>>) {
    let value: Cbor = match ciborium::from_reader(bytes) {
        Ok(v) => v,
        Err(e) => {
            return (
                json!({"error": format!("attestationObject is not CBOR: {e}")}),
                None,
            );
        }
    };
    let Cbor::Map(entries) = &value else {
        return (
            json!({"error": "attestationObject is not a CBOR map"}),
            None,
        );
    };
    let get = |k: &str| {
        entries
            .iter()
            .find(|(key, _)| key.as_text() == Some(k))
            .map(|(_, v)| v)
    };
    let fmt = get("fmt").and_then(Cbor::as_text).map(str::to_owned);
    let auth_data = get("authData").and_then(Cbor::as_bytes).cloned();
    let mut out = Map::new();
    out.insert("fmt".into(), json!(fmt));
    if let Some(Cbor::Map(statement)) = get("attStmt") {
        let mut stmt = Map::new();
        for (key, v) in statement {
            let name = key
                .as_text()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("{key:?}"));
            let shown = match (name.as_str(), v) {
                ("alg", Cbor::Integer(i)) => {
                    let id = i64::try_from(i128::from(*i)).unwrap_or(i64::MIN);
                    json!({"id": id, "name": CoseAlgorithm::from_id(id).map(CoseAlgorithm::name)})
                }
                ("x5c", Cbor::Array(certs)) => Value::Array(
                    certs
                        .iter()
                        .map(|c| {
                            c.as_bytes()
                                .map_or(Value::Null, |der| certificate_json(der))
                        })
                        .collect(),
                ),
                ("response", Cbor::Bytes(jws)) if fmt.as_deref() == Some("android-safetynet") => {
                    safetynet_json(jws)
                }
                ("certInfo", Cbor::Bytes(b)) if fmt.as_deref() == Some("tpm") => {
                    with_decoded(b, tpm::cert_info(b))
                }
                ("pubArea", Cbor::Bytes(b)) if fmt.as_deref() == Some("tpm") => {
                    with_decoded(b, tpm::pub_area(b))
                }
                (_, Cbor::Bytes(b)) => json!({"base64url": b64url(b), "length": b.len()}),
                _ => cbor_json(v),
            };
            stmt.insert(name, shown);
        }
        out.insert("att_stmt".into(), Value::Object(stmt));
    }
    let strict = match tessera_webauthn::registration::AttestationObject::from_cbor(bytes) {
        Ok(_) => json!("ok"),
        Err(e) => error_json(&e),
    };
    out.insert("strict_parse".into(), strict);
    (Value::Object(out), auth_data)
}

/// Raw bytes, and their decoding when it succeeded.
fn with_decoded(bytes: &[u8], decoded: Option<Value>) -> Value {
    json!({
        "base64url": b64url(bytes),
        "length": bytes.len(),
        "decoded": decoded.unwrap_or_else(|| json!({"error": "not the TPM 2.0 structure"})),
    })
}

/// Display of TPM 2.0 structures (TPM 2.0 Library Part 2), decoded by the library's `tpm` attestation code:
/// `TPMS_ATTEST` and `TPMT_PUBLIC`.
mod tpm {
    use super::{b64url, hex};
    use serde_json::{Value, json};
    use tessera_webauthn::attestation::tpm::{
        TpmsAttest, TpmtPublic, TpmtPublicParameters, algorithm_name, curve_name,
    };

    /// `TPMS_ATTEST` magic `TPM_GENERATED_VALUE` and type `TPM_ST_ATTEST_CERTIFY`.
    const TPM_GENERATED_VALUE: u32 = 0xff54_4347;
    const TPM_ST_ATTEST_CERTIFY: u16 = 0x8017;

    fn alg(id: u16) -> Value {
        json!({"id": format!("0x{id:04x}"), "name": algorithm_name(id).unwrap_or("unknown")})
    }

    /// `TPMS_ATTEST`, as `certInfo` carries it.
    pub(super) fn cert_info(bytes: &[u8]) -> Option<Value> {
        let a = TpmsAttest::decode(bytes)?;
        Some(json!({
            "magic": format!("0x{:08x}", a.magic),
            "magic_is_tpm_generated_value": a.magic == TPM_GENERATED_VALUE,
            "type": format!("0x{:04x}", a.kind),
            "type_is_attest_certify": a.kind == TPM_ST_ATTEST_CERTIFY,
            "qualified_signer": b64url(a.qualified_signer),
            "extra_data": b64url(a.extra_data),
            "clock_info": {"clock": a.clock, "reset_count": a.reset_count, "restart_count": a.restart_count, "safe": a.safe},
            "firmware_version": format!("0x{:016x}", a.firmware_version),
            "attested_name": a.attested_name.split_first_chunk::<2>().map(|(name_alg, digest)| json!({
                "name_alg": alg(u16::from_be_bytes(*name_alg)),
                "digest": hex(digest),
            })),
            "attested_qualified_name": b64url(a.attested_qualified_name),
            "trailing_bytes": a.trailing.len(),
        }))
    }

    /// `TPMT_PUBLIC`, as `pubArea` carries it.
    pub(super) fn pub_area(bytes: &[u8]) -> Option<Value> {
        let p = TpmtPublic::decode(bytes)?;
        let parameters = match p.parameters {
            TpmtPublicParameters::Rsa {
                symmetric,
                scheme,
                key_bits,
                exponent,
                modulus,
            } => json!({
                "symmetric": alg(symmetric),
                "scheme": alg(scheme),
                "key_bits": key_bits,
                "exponent": exponent,
                "modulus": b64url(modulus),
            }),
            TpmtPublicParameters::Ecc {
                symmetric,
                scheme,
                curve,
                kdf,
                x,
                y,
            } => json!({
                "symmetric": alg(symmetric),
                "scheme": alg(scheme),
                "curve": {"id": format!("0x{curve:04x}"), "name": curve_name(curve).unwrap_or("unknown")},
                "kdf": alg(kdf),
                "x": b64url(x),
                "y": b64url(y),
            }),
            TpmtPublicParameters::Other => json!({"undecoded": b64url(p.trailing)}),
        };
        Some(json!({
            "type": alg(p.kind),
            "name_alg": alg(p.name_alg),
            "object_attributes": format!("0x{:08x}", p.object_attributes),
            "auth_policy": b64url(p.auth_policy),
            "parameters": parameters,
            "trailing_bytes": p.trailing.len(),
        }))
    }
}

fn safetynet_json(jws: &[u8]) -> Value {
    let text = String::from_utf8_lossy(jws);
    let parts: Vec<&str> = text.split('.').collect();
    let decode = |part: Option<&&str>| {
        part.and_then(|p| URL_SAFE_NO_PAD.decode(p.trim_end_matches('=')).ok())
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
    };
    let mut header = decode(parts.first()).unwrap_or(Value::Null);
    if let Some(x5c) = header.get_mut("x5c").and_then(Value::as_array_mut) {
        for cert in x5c.iter_mut() {
            if let Some(der) = cert.as_str().and_then(|c| STANDARD.decode(c).ok()) {
                *cert = certificate_json(&der);
            }
        }
    }
    json!({"jws_header": header, "jws_payload": decode(parts.get(1)), "jws_parts": parts.len()})
}

fn inspect_auth_data(bytes: &[u8]) -> Value {
    let mut out = Map::new();
    out.insert("length".into(), json!(bytes.len()));
    let Some((head, rest)) = bytes.split_first_chunk::<37>() else {
        out.insert(
            "error".into(),
            json!(format!("{} bytes, at least 37 are required", bytes.len())),
        );
        return Value::Object(out);
    };
    let (rp_id_hash, tail) = head.split_at(32);
    let flags = AuthenticatorFlags(tail.first().copied().unwrap_or(0));
    let count = tail
        .get(1..5)
        .and_then(|c| <[u8; 4]>::try_from(c).ok())
        .map_or(0, u32::from_be_bytes);
    out.insert("rp_id_hash".into(), json!(hex(rp_id_hash)));
    out.insert("flags".into(), flags_json(flags));
    out.insert("sign_count".into(), json!(count));
    let mut rest = rest;
    if flags.attested_credential_data() {
        let mut attested = Map::new();
        if let Some((aaguid, after)) = rest.split_first_chunk::<16>() {
            attested.insert(
                "aaguid".into(),
                json!(tessera_webauthn::Aaguid(*aaguid).to_string()),
            );
            if let Some((len, after)) = after.split_first_chunk::<2>() {
                let id_len = usize::from(u16::from_be_bytes(*len));
                attested.insert("credential_id_length".into(), json!(id_len));
                if after.len() >= id_len {
                    let (id, after) = after.split_at(id_len);
                    attested.insert("credential_id".into(), json!(b64url(id)));
                    match cbor_prefix(after) {
                        Some((key, used)) => {
                            attested
                                .insert("public_key".into(), cose_key_json(&key, &after[..used]));
                            rest = &after[used..];
                        }
                        None => {
                            attested.insert("public_key".into(), json!({"error": "not CBOR"}));
                            rest = &[];
                        }
                    }
                } else {
                    attested.insert(
                        "error".into(),
                        json!("the credential id is longer than the data"),
                    );
                    rest = &[];
                }
            }
        }
        out.insert("attested_credential_data".into(), Value::Object(attested));
    }
    if flags.extension_data() {
        match cbor_prefix(rest) {
            Some((ext, used)) => {
                out.insert("extensions".into(), cbor_json(&ext));
                rest = &rest[used..];
            }
            None => {
                out.insert("extensions".into(), json!({"error": "not CBOR"}));
            }
        }
    }
    out.insert("trailing_bytes".into(), json!(rest.len()));
    let strict = match AuthenticatorData::from_bytes(bytes) {
        Ok(_) => json!("ok"),
        Err(e) => error_json(&e),
    };
    out.insert("strict_parse".into(), strict);
    Value::Object(out)
}

/// Decodes one CBOR item at the start of `bytes`, returning it and its length.
fn cbor_prefix(bytes: &[u8]) -> Option<(Cbor, usize)> {
    let mut cursor = std::io::Cursor::new(bytes);
    let value: Cbor = ciborium::from_reader(&mut cursor).ok()?;
    let used = usize::try_from(cursor.position()).ok()?;
    Some((value, used))
}

fn cose_key_json(key: &Cbor, raw: &[u8]) -> Value {
    let mut out = Map::new();
    out.insert("cose_base64url".into(), json!(b64url(raw)));
    if let Cbor::Map(entries) = key {
        let label = |l: i64| {
            entries
                .iter()
                .find(|(k, _)| {
                    k.as_integer()
                        .is_some_and(|i| i128::from(i) == i128::from(l))
                })
                .map(|(_, v)| v)
        };
        let int = |l: i64| {
            label(l)
                .and_then(Cbor::as_integer)
                .and_then(|i| i64::try_from(i128::from(i)).ok())
        };
        let kty = int(1);
        out.insert(
            "kty".into(),
            json!({"id": kty, "name": kty.map(|k| match k { 1 => "OKP", 2 => "EC2", 3 => "RSA", 7 => "AKP", _ => "unknown" })}),
        );
        let alg = int(3);
        out.insert("alg".into(), json!({"id": alg, "name": alg.and_then(CoseAlgorithm::from_id).map(CoseAlgorithm::name)}));
        let bytes_at = |l: i64| label(l).and_then(Cbor::as_bytes);
        match kty {
            Some(1) | Some(2) => {
                let crv = int(-1);
                let crv_name = crv.map(|c| match c {
                    1 => "P-256",
                    2 => "P-384",
                    3 => "P-521",
                    6 => "Ed25519",
                    7 => "Ed448",
                    _ => "unknown",
                });
                out.insert("crv".into(), json!({"id": crv, "name": crv_name}));
                if let Some(x) = bytes_at(-2) {
                    out.insert("x".into(), json!(b64url(x)));
                }
                if let Some(y) = bytes_at(-3) {
                    out.insert("y".into(), json!(b64url(y)));
                }
            }
            Some(3) => {
                if let Some(n) = bytes_at(-1) {
                    let leading = n.iter().take_while(|b| **b == 0).count();
                    let bits = n.len().saturating_sub(leading) * 8
                        - n.get(leading).map_or(0, |b| b.leading_zeros() as usize);
                    out.insert("n".into(), json!(b64url(n)));
                    out.insert("modulus_bits".into(), json!(bits));
                }
                if let Some(e) = bytes_at(-2) {
                    out.insert("e".into(), json!(b64url(e)));
                }
            }
            Some(7) => {
                if let Some(public) = bytes_at(-1) {
                    out.insert(
                        "pub".into(),
                        json!({"base64url": b64url(public), "length": public.len()}),
                    );
                }
            }
            _ => {}
        }
    }
    let strict = match CoseKey::from_cbor(raw) {
        Ok(parsed) => {
            let params = match parsed.params() {
                CoseKeyParams::Ec2 { .. } => "EC2",
                CoseKeyParams::Okp { .. } => "OKP",
                CoseKeyParams::Rsa { .. } => "RSA",
                CoseKeyParams::Akp { .. } => "AKP",
            };
            json!({"ok": true, "algorithm": parsed.algorithm().name(), "key_type": params})
        }
        Err(e) => error_json(&e),
    };
    out.insert("strict_parse".into(), strict);
    Value::Object(out)
}

fn certificate_json(der: &[u8]) -> Value {
    let cert = match X509Certificate::from_der(der) {
        Ok((_, cert)) => cert,
        Err(e) => {
            return json!({"error": format!("not an X.509 certificate: {e}"), "der_base64url": b64url(der)});
        }
    };
    let time = |t: x509_parser::time::ASN1Time| {
        t.to_datetime()
            .format(&Rfc3339)
            .unwrap_or_else(|_| t.to_string())
    };
    let extensions: Vec<Value> = cert
        .extensions()
        .iter()
        .map(|ext| {
            let oid = ext.oid.to_id_string();
            let mut e = json!({
                "oid": oid,
                "name": extension_name(&oid),
                "critical": ext.critical,
            });
            let value = match oid.as_str() {
                OID_FIDO_AAGUID => match ext.value {
                    [0x04, 0x10, rest @ ..] if rest.len() == 16 => {
                        let mut aaguid = [0u8; 16];
                        aaguid.copy_from_slice(rest);
                        json!(tessera_webauthn::Aaguid(aaguid).to_string())
                    }
                    other => json!({"malformed": b64url(other)}),
                },
                "2.5.29.19" => json!({"ca": cert.is_ca()}),
                _ => json!(b64url(ext.value)),
            };
            if let Some(map) = e.as_object_mut() {
                map.insert("value".into(), value);
            }
            e
        })
        .collect();
    json!({
        "subject": cert.subject().to_string(),
        "issuer": cert.issuer().to_string(),
        "serial": cert.raw_serial_as_string(),
        "not_before": time(cert.validity().not_before),
        "not_after": time(cert.validity().not_after),
        "version": cert.version().0 + 1,
        "signature_algorithm": cert.signature_algorithm.algorithm.to_id_string(),
        "public_key_algorithm": cert.public_key().algorithm.algorithm.to_id_string(),
        "is_ca": cert.is_ca(),
        "extensions": extensions,
        "der_base64url": b64url(der),
    })
}

fn extension_name(oid: &str) -> &'static str {
    match oid {
        "2.5.29.14" => "subjectKeyIdentifier",
        "2.5.29.15" => "keyUsage",
        "2.5.29.17" => "subjectAltName",
        "2.5.29.19" => "basicConstraints",
        "2.5.29.31" => "cRLDistributionPoints",
        "2.5.29.32" => "certificatePolicies",
        "2.5.29.35" => "authorityKeyIdentifier",
        "2.5.29.37" => "extKeyUsage",
        "1.3.6.1.5.5.7.1.1" => "authorityInfoAccess",
        OID_FIDO_AAGUID => "id-fido-gen-ce-aaguid",
        "1.3.6.1.4.1.45724.2.1.1" => "id-fido-u2f-ce-transports",
        "1.3.6.1.4.1.11129.2.1.17" => "android-key-attestation",
        "1.2.840.113635.100.8.2" => "apple-anonymous-attestation-nonce",
        _ => "",
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// CBOR as readable JSON: byte strings become base64url, map keys become strings.
fn cbor_json(value: &Cbor) -> Value {
    match value {
        Cbor::Integer(i) => {
            let i = i128::from(*i);
            i64::try_from(i).map_or_else(|_| json!(i.to_string()), |v| json!(v))
        }
        Cbor::Bytes(b) => json!(b64url(b)),
        Cbor::Float(f) => json!(f),
        Cbor::Text(t) => json!(t),
        Cbor::Bool(b) => json!(b),
        Cbor::Null => Value::Null,
        Cbor::Tag(tag, inner) => json!({"tag": tag, "value": cbor_json(inner)}),
        Cbor::Array(items) => Value::Array(items.iter().map(cbor_json).collect()),
        Cbor::Map(entries) => {
            let mut map = Map::new();
            for (k, v) in entries {
                let key = match k {
                    Cbor::Text(t) => t.clone(),
                    Cbor::Integer(i) => i128::from(*i).to_string(),
                    other => cbor_json(other).to_string(),
                };
                map.insert(key, cbor_json(v));
            }
            Value::Object(map)
        }
        _ => json!(format!("{value:?}")),
    }
}

/// FIDO MDS3 BLOB loading.
mod mds {
    use super::{Unusable, certificate_file, read_file};
    use std::path::Path;
    use tessera_webauthn::mds::MetadataBlob;
    use time::OffsetDateTime;

    /// Reads and verifies a BLOB against the root file at `now` (any of its certificates, as the server does).
    pub(super) fn load(
        blob: &Path,
        root: &Path,
        now: OffsetDateTime,
    ) -> Result<MetadataBlob, Unusable> {
        let jws = read_file(blob, "MDS3 BLOB")?;
        let roots = certificate_file(root, "MDS3 root")?;
        MetadataBlob::from_jws_with_roots(&jws, &roots, now).map_err(|e| Unusable {
            message: format!("MDS3 BLOB refused: {e}"),
            rule: Some(e.rule()),
        })
    }
}

#[cfg(test)]
mod tests {
    //! Nothing the tool reads makes it panic: mutated responses through `inspect` and both verifiers, in process.

    use super::*;
    use clap::Parser;
    use std::sync::Arc;
    use tessera_testkit::{Attestation, MaliciousAuthenticator, TestCa};

    #[derive(Parser)]
    struct Registration {
        #[command(flatten)]
        args: RegistrationArgs,
    }

    #[derive(Parser)]
    struct Authentication {
        #[command(flatten)]
        args: AuthenticationArgs,
    }

    /// xorshift64*: deterministic, so a failure reproduces.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            usize::try_from(self.next() % (n.max(1) as u64)).unwrap()
        }
    }

    fn mutate(bytes: &mut Vec<u8>, rng: &mut Rng) {
        match rng.below(4) {
            0 if !bytes.is_empty() => {
                let i = rng.below(bytes.len());
                bytes[i] ^= 1 << rng.below(8);
            }
            1 if !bytes.is_empty() => bytes.truncate(rng.below(bytes.len())),
            2 => {
                let i = rng.below(bytes.len() + 1);
                bytes.insert(i, u8::try_from(rng.below(256)).unwrap());
            }
            _ => {
                let i = rng.below(bytes.len() + 1);
                bytes.splice(i..i, [0x9f, 0xbf, 0xff, 0x5b, 0x7b]);
            }
        }
    }

    /// Mutates one base64url member of `response.response` and returns the whole response as bytes.
    fn mutated(response: &Value, rng: &mut Rng) -> Vec<u8> {
        let mut response = response.clone();
        if let Some(Value::Object(fields)) = response.get_mut("response") {
            let keys: Vec<String> = fields.keys().cloned().collect();
            let key = &keys[rng.below(keys.len())];
            if let Some(Value::String(text)) = fields.get_mut(key) {
                let mut bytes = URL_SAFE_NO_PAD.decode(text.as_str()).unwrap_or_default();
                for _ in 0..=rng.below(3) {
                    mutate(&mut bytes, rng);
                }
                *text = b64url(&bytes);
            }
        }
        serde_json::to_vec(&response).unwrap()
    }

    #[test]
    fn mutated_responses_never_panic_the_tool() {
        let ca = TestCa::new("fuzz root").unwrap();
        let cert = Arc::new(ca.attestation_cert(Some([1; 16])).unwrap());
        let options = json!({
            "rp": {"id": "example.com", "name": "x"},
            "user": {"id": "dXNlcg", "name": "u", "displayName": "u"},
            "challenge": "Y2hhbGxlbmdl",
            "pubKeyCredParams": [{"type": "public-key", "alg": -7}],
        })
        .to_string();
        let mut authenticator =
            MaliciousAuthenticator::new().with_attestation(Attestation::PackedBasic(cert));
        authenticator.aaguid = [1; 16];
        let (registration, credential) = authenticator
            .register(&options, "https://example.com")
            .unwrap();
        let assertion = authenticator
            .authenticate(
                r#"{"challenge": "Y2hhbGxlbmdl"}"#,
                "https://example.com",
                &credential,
            )
            .unwrap();
        let registration: Value = serde_json::from_str(&registration).unwrap();
        let assertion: Value = serde_json::from_str(&assertion).unwrap();
        let common = [
            "x",
            "--rp-id",
            "example.com",
            "--origin",
            "https://example.com",
            "--challenge",
            "Y2hhbGxlbmdl",
        ];
        let reg_args = Registration::parse_from(common).args;
        let key = format!(
            "--public-key={}",
            credential.cose_public_key_b64url().unwrap()
        );
        let auth_args = Authentication::parse_from(common.into_iter().chain([key.as_str()])).args;

        assert_eq!(
            registration_outcome(&reg_args, &serde_json::to_vec(&registration).unwrap()),
            0
        );
        assert_eq!(
            authentication(&auth_args, &serde_json::to_vec(&assertion).unwrap()).code,
            0
        );

        let mut rng = Rng(0x7e55_e7a5_eed5_0001);
        for _ in 0..1500 {
            let reg = mutated(&registration, &mut rng);
            let _ = inspect(&reg);
            assert!(registration_outcome(&reg_args, &reg) <= 2);
            let auth = mutated(&assertion, &mut rng);
            let _ = inspect(&auth);
            assert!(authentication(&auth_args, &auth).code <= 2);
            let mut raw = reg.clone();
            mutate(&mut raw, &mut rng);
            let _ = inspect(&raw);
        }
    }

    fn registration_outcome(args: &RegistrationArgs, input: &[u8]) -> u8 {
        registration(args, input).code
    }

    #[test]
    fn cbor_shown_as_json_keeps_bytes_and_keys_readable() {
        let value = Cbor::Map(vec![
            (Cbor::Integer(1.into()), Cbor::Bytes(vec![0xFF])),
            (
                Cbor::Text("k".into()),
                Cbor::Array(vec![Cbor::Bool(true), Cbor::Null]),
            ),
        ]);
        assert_eq!(cbor_json(&value), json!({"1": "_w", "k": [true, null]}));
    }
}
