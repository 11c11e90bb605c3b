//! The broker's own rules: configuration validation, user-flow versions, the B2C URL shapes, the choice page,
//! the claim mapping, the attribute page, conditional access and the application token's claims.

mod common;

use std::collections::BTreeMap;

use common::*;
use serde_json::{Value, json};
use tessera_broker::choice::{Choice, ChoiceHints, decide};
use tessera_broker::claims::{
    AccessError, AppTokenInput, AttributeError, AttributeValue, CollectedAttributes, DirectoryUser,
    UpstreamProfile, app_token_claims, attribute_fields, claims_to_fetch, evaluate_access,
    is_multi_factor, is_phishing_resistant, is_valid_email, map_claims, missing_mapped_claims,
    upstream_requirements, validate_attribute_form,
};
use tessera_broker::config::*;
use tessera_broker::policy_path::{
    BrokerRoute, PolicyEndpoint, PolicyPathError, PolicySource, PolicyUrls, parse_broker_path,
};
use tessera_broker::upstream::validate_id_token;
use tessera_core::{ClientId, TenantId};
use tessera_oidc::{ClientType, SecretHash, SigningAlg};
use time::Duration;

fn pid(id: &str) -> ProviderId {
    ProviderId::parse(id).expect("provider id")
}

fn app() -> Application {
    Application {
        display_name: "JWT viewer".into(),
        client_id: ClientId::parse("jwt-viewer").expect("client id"),
        client_type: ClientType::Confidential,
        secret_hash: Some(SecretHash::of("secret")),
        reply_urls: vec!["https://jwt.example/callback".into()],
        logout_urls: vec![],
        token_lifetimes: TokenLifetimes::default(),
        id_token_signing_alg: SigningAlg::Rs256,
    }
}

fn form(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

// ---------------------------------------------------------------------------------------------------------------
// Configuration

#[test]
fn application_validation_names_the_field() {
    assert_eq!(app().validate(), Ok(()));
    type Change = Box<dyn Fn(&mut Application)>;
    let cases: Vec<(Change, &str)> = vec![
        (Box::new(|a| a.display_name = " ".into()), "display_name"),
        (Box::new(|a| a.reply_urls.clear()), "reply_urls"),
        (
            Box::new(|a| a.reply_urls.push("http://jwt.example/cb".into())),
            "reply_urls[1]",
        ),
        (
            Box::new(|a| a.reply_urls.push("https://*.example/cb".into())),
            "reply_urls[1]",
        ),
        (
            Box::new(|a| a.reply_urls.push("https://jwt.example/cb#x".into())),
            "reply_urls[1]",
        ),
        (
            Box::new(|a| a.reply_urls.push("javascript:alert(1)".into())),
            "reply_urls[1]",
        ),
        (
            Box::new(|a| a.reply_urls.push("/relative".into())),
            "reply_urls[1]",
        ),
        (
            Box::new(|a| a.reply_urls.push(" https://jwt.example/cb".into())),
            "reply_urls[1]",
        ),
        (
            Box::new(|a| a.reply_urls.push("https://jwt.example/c\nb".into())),
            "reply_urls[1]",
        ),
        (
            Box::new(|a| a.reply_urls.push("https://jwt.example/callback".into())),
            "reply_urls[1]",
        ),
        (
            Box::new(|a| a.logout_urls.push("http://evil.example/".into())),
            "logout_urls[0]",
        ),
        (Box::new(|a| a.secret_hash = None), "client_secret"),
        (
            Box::new(|a| a.token_lifetimes.access_token_minutes = 2),
            "token_lifetimes.access_token_minutes",
        ),
        (
            Box::new(|a| a.token_lifetimes.refresh_token_days = 91),
            "token_lifetimes.refresh_token_days",
        ),
        (
            Box::new(|a| a.token_lifetimes.refresh_sliding_window_days = Some(0)),
            "token_lifetimes.refresh_sliding_window_days",
        ),
    ];
    for (change, field) in cases {
        let mut application = app();
        change(&mut application);
        let error = application.validate().expect_err(field);
        assert_eq!(error.field(), field, "{error}");
        assert!(
            error.to_string().starts_with(field),
            "message names the field: {error}"
        );
    }
    let mut public = app();
    public.client_type = ClientType::Public;
    assert!(matches!(
        public.validate(),
        Err(ConfigError::SecretNotAllowed { .. })
    ));
    public.secret_hash = None;
    public.reply_urls = vec![
        "http://localhost:3000/".into(),
        "http://127.0.0.1/cb".into(),
        "msaljwt-viewer://auth".into(),
        "com.example.app:/oauth2redirect".into(),
    ];
    assert_eq!(
        public.validate(),
        Ok(()),
        "loopback http and native private-use schemes"
    );
}

#[test]
fn reply_urls_match_exactly() {
    let application = app();
    assert!(application.reply_url_registered("https://jwt.example/callback"));
    for other in [
        "https://jwt.example/callback/",
        "https://jwt.example/Callback",
        "https://jwt.example/callback?x=1",
        "https://JWT.example/callback",
        "https://jwt.example.evil/callback",
    ] {
        assert!(!application.reply_url_registered(other), "{other}");
    }
    let config = application.client_config();
    assert_eq!(config.redirect_uris, application.reply_urls);
    assert_eq!(config.client_type(), ClientType::Confidential);
}

#[test]
fn identity_provider_validation_names_the_field() {
    let provider = provider_config(ISSUER);
    assert_eq!(provider.validate(), Ok(()));
    assert_eq!(provider.scope_string(), DEFAULT_SCOPE);
    let mut bad = provider.clone();
    bad.scope = parse_scope("profile email");
    assert_eq!(
        bad.validate().map_err(|e| e.field().to_owned()),
        Err("scope".into())
    );
    let mut bad = provider.clone();
    bad.scope = vec!["openid".into(), "a\"b".into()];
    assert!(matches!(
        bad.validate(),
        Err(ConfigError::ScopeSyntax { .. })
    ));
    let mut bad = provider.clone();
    bad.client_id = String::new();
    assert_eq!(
        bad.validate().map_err(|e| e.field().to_owned()),
        Err("client_id".into())
    );
    let mut bad = provider.clone();
    bad.claim_mapping.email = Some(String::new());
    assert_eq!(
        bad.validate().map_err(|e| e.field().to_owned()),
        Err("claim_mapping.email".into())
    );
    assert!(matches!(
        ProviderId::parse("Nok Nok"),
        Err(ConfigError::IdentifierSyntax { .. })
    ));
}

#[test]
fn metadata_url_rules() {
    let url =
        MetadataUrl::parse("https://demo.example/mytenant/oidc/.well-known/openid-configuration")
            .expect("ok");
    assert_eq!(url.issuer_prefix(), "https://demo.example/mytenant/oidc");
    let root = MetadataUrl::parse("https://accounts.example/.well-known/openid-configuration")
        .expect("ok");
    assert_eq!(root.issuer_prefix(), "https://accounts.example");
    let refused = |value: &str| MetadataUrl::parse(value).expect_err(value);
    assert!(matches!(
        refused("http://demo.example/.well-known/openid-configuration"),
        ConfigError::InsecureUrl { .. }
    ));
    assert!(matches!(
        refused("https://demo.example/oidc"),
        ConfigError::MetadataUrlNotWellKnown { .. }
    ));
    assert!(matches!(
        refused("https://demo.example/.well-known/openid-configuration?p=B2C_1_x"),
        ConfigError::MetadataUrlQuery { .. }
    ));
    assert!(matches!(
        refused("https://u:p@demo.example/.well-known/openid-configuration"),
        ConfigError::UrlUserinfo { .. }
    ));
    assert!(matches!(
        refused("not a url"),
        ConfigError::NotAbsoluteUrl { .. }
    ));
    // The parser would drop these silently, and the issuer is compared byte for byte: refused instead.
    assert!(matches!(
        refused("https://demo.example/.well-known/openid-configuration "),
        ConfigError::NotAbsoluteUrl { .. }
    ));
    assert!(matches!(
        refused("https://demo.example/t\tx/.well-known/openid-configuration"),
        ConfigError::ControlCharacter { .. }
    ));
    assert!(
        MetadataUrl::parse("http://127.0.0.1:9000/t/oidc/.well-known/openid-configuration").is_ok()
    );
    assert!(MetadataUrl::parse("http://[::1]:9000/.well-known/openid-configuration").is_ok());
    assert!(MetadataUrl::parse("http://localhost:9000/.well-known/openid-configuration").is_ok());
}

#[test]
fn claim_mapping_defaults() {
    let mapping: ClaimMapping = serde_json::from_str("{}").expect("defaults");
    assert_eq!(mapping, ClaimMapping::default());
    assert_eq!(mapping.user_id, "sub");
    assert_eq!(mapping.display_name.as_deref(), Some("name"));
    assert_eq!(mapping.given_name.as_deref(), Some("given_name"));
    assert_eq!(mapping.surname.as_deref(), Some("family_name"));
    assert_eq!(mapping.email.as_deref(), Some("email"));
    let unmapped: ClaimMapping = serde_json::from_str(r#"{"email": null}"#).expect("explicit null");
    assert_eq!(unmapped.email, None);
}

// ---------------------------------------------------------------------------------------------------------------
// User flows

fn settings() -> FlowSettings {
    FlowSettings {
        identity_providers: vec![pid("tessera-passkeys")],
        user_attributes: vec![CollectedAttribute {
            attribute: UserAttribute::Email,
            required: true,
        }],
        application_claims: vec![
            ApplicationClaim::Email,
            ApplicationClaim::DisplayName,
            ApplicationClaim::IdentityProvider,
            ApplicationClaim::ObjectId,
            ApplicationClaim::NewUser,
        ],
        ..FlowSettings::default()
    }
}

fn tenant_providers() -> Vec<ProviderId> {
    vec![pid("tessera-passkeys"), pid("other-idp")]
}

#[test]
fn policy_ids_compare_case_insensitively_and_keep_their_case() {
    let policy = PolicyId::from_name("SignUpSignIn").expect("policy");
    assert_eq!(policy.as_str(), "B2C_1_SignUpSignIn");
    assert_eq!(policy.name(), "SignUpSignIn");
    assert_eq!(
        policy,
        PolicyId::parse("b2c_1_signupsignin").expect("lowercase")
    );
    assert_eq!(policy.key(), "b2c_1_signupsignin");
    let mut set = std::collections::HashSet::new();
    set.insert(policy.clone());
    assert!(set.contains(&PolicyId::parse("B2C_1_SIGNUPSIGNIN").expect("upper")));
    assert!(matches!(
        PolicyId::parse("B2C_1A_custom"),
        Err(ConfigError::PolicyPrefix { .. })
    ));
    assert!(matches!(
        PolicyId::parse("signupsignin"),
        Err(ConfigError::PolicyPrefix { .. })
    ));
    assert!(matches!(
        PolicyId::parse("B2C_1_"),
        Err(ConfigError::PolicyName { .. })
    ));
    assert!(matches!(
        PolicyId::parse("B2C_1_sign in"),
        Err(ConfigError::PolicyName { .. })
    ));
    assert!(matches!(
        PolicyId::parse("B2C_1_a/b"),
        Err(ConfigError::PolicyName { .. })
    ));
    assert!(PolicyId::parse("B2Cé_1_x").is_err());
}

#[test]
fn flow_versions_are_immutable_and_numbered() {
    let policy = PolicyId::parse("B2C_1_signupsignin").expect("policy");
    let mut flow = UserFlow::create(policy, settings(), &tenant_providers(), NOW).expect("flow");
    assert_eq!(flow.current().number(), 1);
    let mut changed = settings();
    changed.identity_providers.push(pid("other-idp"));
    let later = NOW + Duration::hours(1);
    let v2 = flow
        .revise(changed.clone(), &tenant_providers(), later)
        .expect("v2");
    assert_eq!((v2.number(), v2.created_at()), (2, later));
    // A sign-in that started on version 1 still finds version 1 unchanged.
    assert_eq!(flow.version(1).map(|v| v.settings()), Some(&settings()));
    assert_eq!(flow.version(2).map(|v| v.settings()), Some(&changed));
    assert_eq!(flow.current().number(), 2);
    assert!(flow.version(0).is_none() && flow.version(3).is_none());
    // A refused revision leaves the flow as it was.
    let mut broken = settings();
    broken.identity_providers = vec![pid("nowhere")];
    assert!(matches!(
        flow.revise(broken, &tenant_providers(), later),
        Err(ConfigError::UnknownProvider { .. })
    ));
    assert_eq!(
        flow.versions().map(|v| v.number()).collect::<Vec<_>>(),
        [1, 2]
    );
    // Stored flows come back only with versions 1..n.
    let json = serde_json::to_value(&flow).expect("json");
    let back: UserFlow = serde_json::from_value(json.clone()).expect("round trip");
    assert_eq!(back, flow);
    let mut gap = json.clone();
    gap["versions"].as_array_mut().expect("versions").remove(0);
    assert!(serde_json::from_value::<UserFlow>(gap).is_err());
    let mut none = json;
    none["versions"] = json!([]);
    assert!(serde_json::from_value::<UserFlow>(none).is_err());
}

#[test]
fn flow_settings_validation_names_the_field() {
    let check = |change: &dyn Fn(&mut FlowSettings)| {
        let mut s = settings();
        change(&mut s);
        s.validate(&tenant_providers())
            .map_err(|e| e.field().to_owned())
    };
    assert_eq!(check(&|_| {}), Ok(()));
    assert_eq!(
        check(&|s| s.identity_providers.clear()),
        Err("identity_providers".into())
    );
    assert_eq!(
        check(&|s| {
            s.identity_providers.clear();
            s.local_accounts = LocalAccounts::Email;
        }),
        Ok(())
    );
    assert_eq!(
        check(&|s| s.identity_providers.push(pid("tessera-passkeys"))),
        Err("identity_providers[1]".into())
    );
    assert_eq!(
        check(&|s| s.identity_providers.push(pid("unknown"))),
        Err("identity_providers[1]".into())
    );
    assert_eq!(
        check(&|s| s.user_attributes.push(CollectedAttribute {
            attribute: UserAttribute::Custom("loyalty".into()),
            required: false
        })),
        Err("user_attributes[1]".into())
    );
    assert_eq!(
        check(&|s| s
            .application_claims
            .push(ApplicationClaim::Custom("loyalty".into()))),
        Err("application_claims[5]".into())
    );
    assert_eq!(
        check(&|s| s.application_claims.push(ApplicationClaim::Email)),
        Err("application_claims[5]".into())
    );
    assert_eq!(
        check(&|s| s.user_attributes.push(CollectedAttribute {
            attribute: UserAttribute::Email,
            required: false
        })),
        Err("user_attributes[1]".into())
    );
    assert_eq!(
        check(&|s| s.custom_attributes.push(CustomAttribute {
            name: "9lives".into(),
            label: None,
            data_type: AttributeType::Integer
        })),
        Err("custom_attributes[0]".into())
    );
    assert_eq!(
        check(&|s| {
            for name in ["Loyalty", "loyalty"] {
                s.custom_attributes.push(CustomAttribute {
                    name: name.into(),
                    label: None,
                    data_type: AttributeType::String,
                });
            }
        }),
        Err("custom_attributes[1]".into())
    );
    assert_eq!(
        check(&|s| s.conditional_access.rules.push(AccessRule {
            name: "idp not in flow".into(),
            applications: vec![],
            identity_providers: vec![pid("other-idp")],
            action: AccessAction::Block,
        })),
        Err("conditional_access.rules[0].identity_providers[0]".into())
    );
    let mfa_rule = AccessRule {
        name: "admins need mfa".into(),
        applications: vec![],
        identity_providers: vec![],
        action: AccessAction::RequireMfa,
    };
    for (mfa, expected) in [
        (
            MfaSetting::Off,
            Err(String::from("conditional_access.rules[0].action")),
        ),
        (
            MfaSetting::Always,
            Err(String::from("conditional_access.rules[0].action")),
        ),
        (MfaSetting::Conditional, Ok(())),
    ] {
        assert_eq!(
            check(&|s| {
                s.mfa = mfa;
                s.conditional_access.rules.push(mfa_rule.clone());
            }),
            expected,
            "{mfa:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------------------------
// URL shapes

fn route(path: &str, query: Option<&str>) -> Result<BrokerRoute, PolicyPathError> {
    parse_broker_path(path, query)
}

fn policy_route(
    tenant: &str,
    policy: &str,
    endpoint: PolicyEndpoint,
    source: PolicySource,
) -> BrokerRoute {
    BrokerRoute::Policy {
        tenant: TenantId::parse(tenant).expect("tenant"),
        policy: PolicyId::parse(policy).expect("policy"),
        endpoint,
        source,
    }
}

#[test]
fn policy_paths_in_every_b2c_shape() {
    use PolicyEndpoint::*;
    let cases = [
        ("v2.0/.well-known/openid-configuration", Discovery),
        ("discovery/v2.0/keys", Keys),
        ("oauth2/v2.0/authorize", Authorize),
        ("oauth2/v2.0/token", Token),
        ("oauth2/v2.0/logout", Logout),
        ("openid/v2.0/userinfo", Userinfo),
    ];
    for (suffix, endpoint) in cases {
        assert_eq!(
            route(&format!("/contoso/B2C_1_signupsignin/{suffix}"), None),
            Ok(policy_route(
                "contoso",
                "B2C_1_signupsignin",
                endpoint,
                PolicySource::Path
            )),
            "{suffix}"
        );
        assert_eq!(
            route(&format!("/tfp/contoso/B2C_1_signupsignin/{suffix}"), None),
            Ok(policy_route(
                "contoso",
                "B2C_1_signupsignin",
                endpoint,
                PolicySource::Tfp
            )),
            "tfp {suffix}"
        );
        assert_eq!(
            route(
                &format!("/contoso/{suffix}"),
                Some("p=B2C_1_signupsignin&client_id=x")
            ),
            Ok(policy_route(
                "contoso",
                "B2C_1_signupsignin",
                endpoint,
                PolicySource::Query
            )),
            "p= {suffix}"
        );
    }
    assert_eq!(
        route("/contoso/oauth2/authresp", None),
        Ok(BrokerRoute::AuthResponse {
            tenant: TenantId::parse("contoso").expect("tenant")
        })
    );
}

#[test]
fn policy_paths_as_msal_sends_them() {
    // MSAL.js lowercases the authority: https://host/contoso/b2c_1_signupsignin/.
    let msal_js = route(
        "/contoso/b2c_1_signupsignin/v2.0/.well-known/openid-configuration",
        None,
    )
    .expect("msal.js");
    let BrokerRoute::Policy { policy, .. } = &msal_js else {
        panic!("policy route expected");
    };
    assert_eq!(
        policy,
        &PolicyId::parse("B2C_1_SignUpSignIn").expect("configured")
    );
    assert_eq!(policy.key(), "b2c_1_signupsignin");
    // MSAL.NET: https://host/tfp/contoso/B2C_1_SignUpSignIn/ (the tfp prefix in any case), tenant in any case.
    assert!(matches!(
        route("/TFP/Contoso/B2C_1_SignUpSignIn/oauth2/v2.0/token", None),
        Ok(BrokerRoute::Policy {
            source: PolicySource::Tfp,
            endpoint: PolicyEndpoint::Token,
            ..
        })
    ));
    // A percent-encoded p= is decoded.
    assert!(route("/contoso/oauth2/v2.0/authorize", Some("p=b2c%5F1%5Fsusi")).is_ok());
}

#[test]
fn policy_path_errors() {
    assert_eq!(
        route("/contoso/oauth2/v2.0/authorize", None),
        Err(PolicyPathError::PolicyMissing)
    );
    assert_eq!(
        route(
            "/contoso/oauth2/v2.0/authorize",
            Some("p=B2C_1_a&p=B2C_1_b")
        ),
        Err(PolicyPathError::DuplicatePolicyParameter)
    );
    assert_eq!(
        route("/contoso/B2C_1_a/oauth2/v2.0/authorize", Some("p=B2C_1_b")),
        Err(PolicyPathError::ConflictingPolicy)
    );
    assert!(route("/contoso/B2C_1_a/oauth2/v2.0/authorize", Some("p=b2c_1_A")).is_ok());
    assert_eq!(
        route("/contoso/signupsignin/oauth2/v2.0/token", None),
        Err(PolicyPathError::InvalidPolicy)
    );
    assert_eq!(
        route("/contoso/oauth2/v2.0/token", Some("p=nope")),
        Err(PolicyPathError::InvalidPolicy)
    );
    assert_eq!(
        route("/con_toso/B2C_1_a/oauth2/v2.0/token", None),
        Err(PolicyPathError::InvalidTenant)
    );
    for unknown in [
        "",
        "/",
        "/contoso",
        "/contoso/B2C_1_a",
        "/contoso/B2C_1_a/oauth2/v2.0/authorize/",
        "/contoso//oauth2/v2.0/authorize",
        "/contoso/B2C_1_a/oauth2/v1.0/authorize",
        "/contoso/B2C_1_a/oauth2/v2.0/authorize/extra",
        "/tfp/contoso",
        "/contoso/oidc/authorize",
    ] {
        assert!(route(unknown, None).is_err(), "{unknown:?}");
    }
}

#[test]
fn policy_urls_round_trip_through_the_parser() {
    let tenant = TenantId::parse("contoso").expect("tenant");
    let policy = PolicyId::parse("B2C_1_signupsignin").expect("policy");
    let urls = PolicyUrls::of("https://broker.example/", &tenant, &policy);
    assert_eq!(
        urls.issuer,
        "https://broker.example/contoso/B2C_1_signupsignin/v2.0"
    );
    assert_eq!(
        urls.discovery,
        format!("{}/.well-known/openid-configuration", urls.issuer)
    );
    assert_eq!(
        urls.auth_response,
        "https://broker.example/contoso/oauth2/authresp"
    );
    for (url, endpoint) in [
        (&urls.discovery, PolicyEndpoint::Discovery),
        (&urls.jwks, PolicyEndpoint::Keys),
        (&urls.authorize, PolicyEndpoint::Authorize),
        (&urls.token, PolicyEndpoint::Token),
        (&urls.logout, PolicyEndpoint::Logout),
        (&urls.userinfo, PolicyEndpoint::Userinfo),
    ] {
        let path = url.strip_prefix("https://broker.example").expect("prefix");
        assert!(
            matches!(route(path, None), Ok(BrokerRoute::Policy { endpoint: e, .. }) if e == endpoint),
            "{url}"
        );
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Choice

#[test]
fn one_provider_goes_straight_to_it() {
    assert_eq!(
        decide(&settings(), &[], ChoiceHints::default()),
        Choice::Provider(pid("tessera-passkeys"))
    );
}

#[test]
fn several_providers_or_local_accounts_show_the_choice_page() {
    let mut two = settings();
    two.identity_providers.push(pid("other-idp"));
    assert_eq!(
        decide(&two, &[], ChoiceHints::default()),
        Choice::ChoicePage {
            providers: vec![pid("tessera-passkeys"), pid("other-idp")],
            local_accounts: false
        }
    );
    let mut with_local = settings();
    with_local.local_accounts = LocalAccounts::Email;
    assert_eq!(
        decide(&with_local, &[], ChoiceHints::default()),
        Choice::ChoicePage {
            providers: vec![pid("tessera-passkeys")],
            local_accounts: true
        }
    );
    let mut local_only = settings();
    local_only.identity_providers.clear();
    local_only.local_accounts = LocalAccounts::Email;
    assert_eq!(
        decide(&local_only, &[], ChoiceHints::default()),
        Choice::LocalAccount
    );
}

#[test]
fn hints_skip_the_choice_page() {
    let mut two = settings();
    two.identity_providers.push(pid("other-idp"));
    two.local_accounts = LocalAccounts::Email;
    let mut other = provider_config("https://other.example");
    other.id = pid("other-idp");
    other.domain_hint = Some("other.example".into());
    let providers = [provider_config(ISSUER), other.clone()];
    let hinted = |hints| decide(&two, &providers, hints);
    // `idp=local` goes to the local-account page, but only on a flow that offers local accounts.
    assert_eq!(
        hinted(ChoiceHints {
            idp: Some("LOCAL"),
            domain_hint: None
        }),
        Choice::LocalAccount
    );
    let mut no_local = two.clone();
    no_local.local_accounts = LocalAccounts::None;
    assert!(matches!(
        decide(
            &no_local,
            &providers,
            ChoiceHints {
                idp: Some("local"),
                domain_hint: None
            }
        ),
        Choice::ChoicePage { .. }
    ));
    assert_eq!(
        hinted(ChoiceHints {
            idp: Some("Other-IdP"),
            domain_hint: None
        }),
        Choice::Provider(pid("other-idp"))
    );
    assert_eq!(
        hinted(ChoiceHints {
            idp: None,
            domain_hint: Some("OTHER.example")
        }),
        Choice::Provider(pid("other-idp"))
    );
    // A hint matching nothing in the flow is ignored.
    assert!(matches!(
        hinted(ChoiceHints {
            idp: Some("google"),
            domain_hint: Some("unknown.example")
        }),
        Choice::ChoicePage { .. }
    ));
    // A provider the flow does not offer is never chosen, even if its domain hint matches.
    let one = settings();
    assert_eq!(
        decide(
            &one,
            &[other],
            ChoiceHints {
                idp: Some("other-idp"),
                domain_hint: Some("other.example")
            }
        ),
        Choice::Provider(pid("tessera-passkeys"))
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Claims

fn id_token_with(
    provider: &TestProvider,
    change: impl Fn(&mut serde_json::Map<String, Value>),
) -> tessera_broker::ValidatedIdToken {
    let mut claims = provider.claims();
    change(&mut claims);
    let token = provider.id_token(&provider.ec, &claims);
    let redirect = provider.start();
    validate_id_token(
        &token,
        &provider.keys(),
        &expectations(&redirect.transaction),
    )
    .expect("valid")
}

#[test]
fn userinfo_is_asked_only_for_missing_claims_the_provider_may_supply() {
    let provider = TestProvider::new();
    let id_token = id_token_with(&provider, |c| {
        c.remove("email");
        c.remove("given_name");
        c.remove("family_name");
    });
    let mapping = ClaimMapping::default();
    // No `claims_supported` published: every missing mapped claim may come from userinfo.
    let metadata = provider.metadata();
    assert_eq!(metadata.claims_supported, None);
    assert_eq!(
        claims_to_fetch(&mapping, &id_token, &metadata),
        ["given_name", "family_name", "email"]
    );
    // A provider that never supplies given_name or family_name (Tessera's authenticator service): only email.
    let mut doc = provider.discovery();
    doc.insert(
        "claims_supported".into(),
        json!(["sub", "iss", "name", "email", "email_verified"]),
    );
    let metadata = validate(&provider.config, &doc).expect("valid");
    assert!(metadata.may_supply("email") && !metadata.may_supply("given_name"));
    assert_eq!(claims_to_fetch(&mapping, &id_token, &metadata), ["email"]);
    // Everything it may supply is in the ID token: no userinfo call at all.
    let complete = id_token_with(&provider, |c| {
        c.remove("given_name");
        c.remove("family_name");
    });
    assert!(claims_to_fetch(&mapping, &complete, &metadata).is_empty());
    // A malformed list is as none published: userinfo is asked as before, and the provider is still accepted.
    doc.insert("claims_supported".into(), json!("email"));
    let metadata = validate(&provider.config, &doc).expect("still valid");
    assert_eq!(metadata.claims_supported, None);
    assert_eq!(
        claims_to_fetch(&mapping, &complete, &metadata),
        ["given_name", "family_name"]
    );
}

#[test]
fn claim_mapping_reads_the_id_token_then_userinfo() {
    let provider = TestProvider::new();
    let id_token = id_token_with(&provider, |c| {
        c.remove("email");
        c.remove("given_name");
    });
    let mapping = ClaimMapping::default();
    assert_eq!(
        missing_mapped_claims(&mapping, &id_token),
        ["given_name", "email"]
    );
    let userinfo = json!({"sub": "user-42", "email": "ada@example.com", "name": "Someone Else"});
    let profile = map_claims(&mapping, &id_token, userinfo.as_object()).expect("profile");
    assert_eq!(profile.issuer, ISSUER);
    assert_eq!(profile.subject, "user-42");
    assert_eq!(
        profile.email.as_deref(),
        Some("ada@example.com"),
        "from userinfo"
    );
    assert_eq!(
        profile.display_name.as_deref(),
        Some("Ada Lovelace"),
        "the ID token wins"
    );
    assert_eq!(profile.given_name, None);
    assert_eq!(profile.surname.as_deref(), Some("Lovelace"));
    assert_eq!(profile.acr.as_deref(), Some("phrh"));
}

#[test]
fn claim_mapping_follows_the_configured_names() {
    let provider = TestProvider::new();
    let id_token = id_token_with(&provider, |c| {
        c.insert("oid".into(), json!(12345));
        c.insert("mail".into(), json!("ada@contoso.example"));
        c.insert("nickname".into(), json!({"not": "a string"}));
    });
    let mapping = ClaimMapping {
        user_id: "oid".into(),
        display_name: Some("nickname".into()),
        given_name: None,
        surname: None,
        email: Some("mail".into()),
    };
    let profile = map_claims(&mapping, &id_token, None).expect("profile");
    assert_eq!(
        profile.subject, "12345",
        "a numeric id becomes its decimal string"
    );
    assert_eq!(profile.email.as_deref(), Some("ada@contoso.example"));
    assert_eq!(
        profile.display_name, None,
        "a claim of the wrong type is left empty"
    );
    assert_eq!(profile.given_name, None, "unmapped");
    let missing = ClaimMapping {
        user_id: "employee_id".into(),
        ..ClaimMapping::default()
    };
    assert!(matches!(
        map_claims(&missing, &id_token, None),
        Err(tessera_broker::claims::ClaimMappingError::UserIdMissing { .. })
    ));
    let unusable = ClaimMapping {
        user_id: "amr".into(),
        ..ClaimMapping::default()
    };
    assert!(matches!(
        map_claims(&unusable, &id_token, None),
        Err(tessera_broker::claims::ClaimMappingError::UserIdUnusable { .. })
    ));
}

fn profile() -> UpstreamProfile {
    UpstreamProfile {
        issuer: ISSUER.into(),
        subject: "user-42".into(),
        display_name: Some("Ada Lovelace".into()),
        given_name: Some("Ada".into()),
        surname: None,
        email: Some("ada@example.com".into()),
        amr: vec!["pop".into(), "hwk".into(), "user".into(), "mfa".into()],
        acr: Some("phrh".into()),
        auth_time: Some(NOW - Duration::seconds(10)),
        email_verified: false,
    }
}

fn flow_with_custom() -> FlowSettings {
    let mut s = settings();
    s.custom_attributes = vec![
        CustomAttribute {
            name: "loyaltyNumber".into(),
            label: Some("Loyalty number".into()),
            data_type: AttributeType::Integer,
        },
        CustomAttribute {
            name: "newsletter".into(),
            label: None,
            data_type: AttributeType::Boolean,
        },
    ];
    s.user_attributes.push(CollectedAttribute {
        attribute: UserAttribute::DisplayName,
        required: true,
    });
    s.user_attributes.push(CollectedAttribute {
        attribute: UserAttribute::Custom("loyaltyNumber".into()),
        required: false,
    });
    s.user_attributes.push(CollectedAttribute {
        attribute: UserAttribute::Custom("newsletter".into()),
        required: true,
    });
    s.application_claims
        .push(ApplicationClaim::Custom("loyaltyNumber".into()));
    s.application_claims.push(ApplicationClaim::GivenName);
    s.validate(&tenant_providers()).expect("valid flow");
    s
}

#[test]
fn attribute_page_is_prefilled_from_the_provider() {
    let fields = attribute_fields(&flow_with_custom(), &profile());
    let summary: Vec<(&str, Option<&str>, bool)> = fields
        .iter()
        .map(|f| (f.name.as_str(), f.value.as_deref(), f.required))
        .collect();
    assert_eq!(
        summary,
        [
            ("email", Some("ada@example.com"), true),
            ("display_name", Some("Ada Lovelace"), true),
            ("extension_loyaltyNumber", None, false),
            ("extension_newsletter", None, true),
        ]
    );
    assert_eq!(fields[2].label, "Loyalty number");
    assert_eq!(fields[2].data_type, AttributeType::Integer);
}

#[test]
fn attribute_form_validation() {
    let flow = flow_with_custom();
    let collected = validate_attribute_form(
        &flow,
        &form(&[
            ("email", " ada@example.com "),
            ("display_name", "Ada"),
            ("extension_loyaltyNumber", "1234"),
            ("extension_newsletter", "true"),
            ("csrf", "ignored"),
        ]),
    )
    .expect("valid");
    assert_eq!(
        collected.email.as_deref(),
        Some("ada@example.com"),
        "trimmed"
    );
    assert_eq!(
        collected.custom.get("loyaltyNumber"),
        Some(&AttributeValue::Integer(1234))
    );
    assert_eq!(
        collected.custom.get("newsletter"),
        Some(&AttributeValue::Boolean(true))
    );

    let errors = validate_attribute_form(
        &flow,
        &form(&[
            ("email", "not-an-email"),
            ("display_name", " "),
            ("extension_loyaltyNumber", "12a"),
            ("extension_newsletter", "yes"),
        ]),
    )
    .expect_err("invalid");
    assert_eq!(
        errors,
        [
            AttributeError::InvalidEmail {
                field: "email".into()
            },
            AttributeError::Required {
                field: "display_name".into()
            },
            AttributeError::NotAnInteger {
                field: "extension_loyaltyNumber".into()
            },
            AttributeError::NotABoolean {
                field: "extension_newsletter".into()
            },
        ]
    );
    let errors = validate_attribute_form(
        &flow,
        &form(&[
            ("email", "a@example.com"),
            ("email", "b@example.com"),
            ("display_name", &"x".repeat(300)),
            ("extension_newsletter", "false"),
        ]),
    )
    .expect_err("invalid");
    assert_eq!(
        errors[0],
        AttributeError::Duplicate {
            field: "email".into()
        }
    );
    assert!(matches!(errors[1], AttributeError::TooLong { .. }));
    assert_eq!(errors.len(), 2, "optional loyalty number may stay empty");
}

#[test]
fn email_syntax() {
    for good in [
        "ada@example.com",
        "a.b+c@sub.example.org",
        "x@localhost",
        "o'neil@example.ie",
    ] {
        assert!(is_valid_email(good), "{good}");
    }
    for bad in [
        "",
        "ada",
        "@example.com",
        "ada@",
        "ada@@example.com",
        "ada@-example.com",
        "ada@example..com",
        "ada lovelace@example.com",
        "ada@exa mple.com",
        "<ada>@example.com",
        "ada@example.com\n",
    ] {
        assert!(!is_valid_email(bad), "{bad:?}");
    }
    assert!(!is_valid_email(&format!("{}@example.com", "a".repeat(250))));
}

#[test]
fn phishing_resistance_from_amr_or_acr() {
    let amr = |values: &[&str]| values.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(is_phishing_resistant(&amr(&["pop", "hwk", "user"]), None));
    assert!(is_phishing_resistant(
        &amr(&["pop", "swk", "user", "mfa"]),
        None
    ));
    assert!(is_phishing_resistant(&[], Some("phr")));
    assert!(is_phishing_resistant(&[], Some("phrh")));
    assert!(!is_phishing_resistant(&amr(&["pwd", "otp", "mfa"]), None));
    assert!(
        !is_phishing_resistant(&amr(&["hwk"]), None),
        "a key without proof of possession"
    );
    assert!(!is_phishing_resistant(
        &amr(&["pop"]),
        Some("urn:mace:incommon:iap:silver")
    ));
}

#[test]
fn conditional_access_rules() {
    let jwt = ClientId::parse("jwt-viewer").expect("client");
    let bank = ClientId::parse("bank").expect("client");
    let idp = pid("tessera-passkeys");
    let mut flow = settings();
    flow.conditional_access = ConditionalAccess {
        enforced: true,
        rules: vec![
            AccessRule {
                name: "bank needs passkeys".into(),
                applications: vec![bank.clone()],
                identity_providers: vec![],
                action: AccessAction::RequirePhishingResistant,
            },
            AccessRule {
                name: "jwt viewer exempt".into(),
                applications: vec![jwt.clone()],
                identity_providers: vec![],
                action: AccessAction::Allow,
            },
            AccessRule {
                name: "everything else blocked".into(),
                applications: vec![],
                identity_providers: vec![],
                action: AccessAction::Block,
            },
        ],
    };
    let passkey = profile();
    let mut password = profile();
    password.amr = vec!["pwd".into()];
    password.acr = None;
    assert_eq!(evaluate_access(&flow, &bank, &idp, &passkey), Ok(()));
    assert_eq!(
        evaluate_access(&flow, &bank, &idp, &password),
        Err(AccessError::PhishingResistanceRequired {
            rule: "bank needs passkeys".into()
        })
    );
    assert_eq!(
        evaluate_access(&flow, &jwt, &idp, &password),
        Ok(()),
        "first match decides"
    );
    let other = ClientId::parse("other").expect("client");
    assert_eq!(
        evaluate_access(&flow, &other, &idp, &passkey),
        Err(AccessError::Blocked {
            rule: "everything else blocked".into()
        })
    );
    flow.conditional_access.enforced = false;
    assert_eq!(
        evaluate_access(&flow, &other, &idp, &password),
        Ok(()),
        "rules not enforced"
    );
    flow.mfa = MfaSetting::Always;
    assert_eq!(
        evaluate_access(&flow, &other, &idp, &password),
        Err(AccessError::MfaRequired)
    );
    assert_eq!(evaluate_access(&flow, &other, &idp, &passkey), Ok(()));
}

#[test]
fn multi_factor_from_amr() {
    let amr = |values: &[&str]| values.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    // Tessera's authenticator service: a user-verified passkey says mfa, one without user verification does not.
    assert!(is_multi_factor(&amr(&["pop", "hwk", "user", "mfa"])));
    assert!(is_multi_factor(&amr(&["pop", "swk", "user", "mfa"])));
    assert!(!is_multi_factor(&amr(&["pop", "hwk", "user"])));
    assert!(
        !is_multi_factor(&amr(&["pop", "swk", "user"])),
        "user is presence, not verification"
    );
    // Other providers' spellings of a user-verified key, and two factors of different kinds.
    assert!(is_multi_factor(&amr(&["hwk", "pin"])));
    assert!(is_multi_factor(&amr(&["swk", "fpt"])));
    assert!(is_multi_factor(&amr(&["pwd", "otp"])));
    assert!(is_multi_factor(&amr(&["face", "pin"])));
    // One kind twice is still one factor.
    assert!(!is_multi_factor(&amr(&["pwd", "kba"])));
    assert!(!is_multi_factor(&amr(&["otp", "sms"])));
    assert!(!is_multi_factor(&amr(&["pwd"])));
    assert!(!is_multi_factor(&[]));
}

#[test]
fn conditional_mfa_follows_the_deciding_rule_and_asks_the_provider() {
    let bank = ClientId::parse("bank").expect("client");
    let jwt = ClientId::parse("jwt-viewer").expect("client");
    let idp = pid("tessera-passkeys");
    let mut flow = settings();
    flow.mfa = MfaSetting::Conditional;
    flow.conditional_access = ConditionalAccess {
        enforced: true,
        rules: vec![
            AccessRule {
                name: "bank needs mfa".into(),
                applications: vec![bank.clone()],
                identity_providers: vec![],
                action: AccessAction::RequireMfa,
            },
            AccessRule {
                name: "jwt viewer needs passkeys".into(),
                applications: vec![jwt.clone()],
                identity_providers: vec![],
                action: AccessAction::RequirePhishingResistant,
            },
        ],
    };
    let verified = profile();
    let mut unverified = profile();
    unverified.amr = vec!["pop".into(), "hwk".into(), "user".into()];
    assert_eq!(evaluate_access(&flow, &bank, &idp, &verified), Ok(()));
    assert_eq!(
        evaluate_access(&flow, &bank, &idp, &unverified),
        Err(AccessError::MfaRequired)
    );
    assert_eq!(
        evaluate_access(&flow, &jwt, &idp, &unverified),
        Ok(()),
        "no require_mfa rule decides: conditional asks nothing"
    );
    let other = ClientId::parse("other").expect("client");
    assert_eq!(evaluate_access(&flow, &other, &idp, &unverified), Ok(()));
    flow.conditional_access.enforced = false;
    assert_eq!(
        evaluate_access(&flow, &bank, &idp, &unverified),
        Ok(()),
        "rules not enforced"
    );
    flow.conditional_access.enforced = true;
    // What is asked of the provider before it is judged afterwards.
    let bank_needs = upstream_requirements(&flow, &bank, &idp);
    assert!(bank_needs.multi_factor && !bank_needs.phishing_resistant);
    let jwt_needs = upstream_requirements(&flow, &jwt, &idp);
    assert!(!jwt_needs.multi_factor && jwt_needs.phishing_resistant);
    assert_eq!(
        upstream_requirements(&flow, &other, &idp),
        Default::default()
    );
    let provider = TestProvider::new();
    let mut doc = provider.discovery();
    assert_eq!(
        jwt_needs.acr_values(&provider.metadata()),
        None,
        "nothing is asked of a provider that advertises no acr values"
    );
    doc.insert(
        "acr_values_supported".into(),
        json!([
            "phr",
            "phrh",
            "http://schemas.openid.net/pape/policies/2007/06/multi-factor"
        ]),
    );
    let metadata = validate(&provider.config, &doc).expect("metadata");
    assert_eq!(jwt_needs.acr_values(&metadata).as_deref(), Some("phrh phr"));
    assert_eq!(
        bank_needs.acr_values(&metadata).as_deref(),
        Some("http://schemas.openid.net/pape/policies/2007/06/multi-factor")
    );
    assert_eq!(
        upstream_requirements(&flow, &other, &idp).acr_values(&metadata),
        None
    );
    flow.mfa = MfaSetting::Off;
    assert!(!upstream_requirements(&flow, &bank, &idp).multi_factor);
    flow.mfa = MfaSetting::Always;
    assert!(upstream_requirements(&flow, &other, &idp).multi_factor);
}

#[test]
fn block_wins_over_the_mfa_setting() {
    let bank = ClientId::parse("bank").expect("client");
    let idp = pid("tessera-passkeys");
    let mut flow = settings();
    flow.mfa = MfaSetting::Always;
    flow.conditional_access = ConditionalAccess {
        enforced: true,
        rules: vec![AccessRule {
            name: "closed".into(),
            applications: vec![],
            identity_providers: vec![],
            action: AccessAction::Block,
        }],
    };
    assert_eq!(
        evaluate_access(&flow, &bank, &idp, &profile()),
        Err(AccessError::Blocked {
            rule: "closed".into()
        })
    );
}

fn token_claims(
    flow: &FlowSettings,
    upstream: &UpstreamProfile,
    new_user: bool,
) -> serde_json::Map<String, Value> {
    let user = DirectoryUser::new(
        "7b4e0a1c-oid".into(),
        upstream,
        CollectedAttributes {
            email: Some("ada@work.example".into()),
            custom: BTreeMap::from([("loyaltyNumber".into(), AttributeValue::Integer(1234))]),
            ..CollectedAttributes::default()
        },
    );
    let policy = PolicyId::parse("B2C_1_SignUpSignIn").expect("policy");
    let audience = ClientId::parse("jwt-viewer").expect("client");
    app_token_claims(&AppTokenInput {
        issuer: "https://broker.example/contoso/B2C_1_SignUpSignIn/v2.0",
        audience: &audience,
        policy: &policy,
        settings: flow,
        user: &user,
        upstream,
        new_user,
        nonce: Some("app-nonce"),
        signed_in_at: NOW,
        now: NOW,
        lifetime: Duration::minutes(60),
    })
}

#[test]
fn app_token_claims_as_b2c_shapes_them() {
    let claims = token_claims(&flow_with_custom(), &profile(), true);
    let now = NOW.unix_timestamp();
    let expected = json!({
        "iss": "https://broker.example/contoso/B2C_1_SignUpSignIn/v2.0",
        "aud": "jwt-viewer",
        "exp": now + 3600,
        "iat": now,
        "nbf": now,
        "sub": "7b4e0a1c-oid",
        "oid": "7b4e0a1c-oid",
        "tfp": "B2C_1_SignUpSignIn",
        "ver": "1.0",
        "auth_time": now - 10,
        "acr": "phrh",
        "amr": ["pop", "hwk", "user", "mfa"],
        "nonce": "app-nonce",
        "idp": ISSUER,
        "newUser": true,
        "emails": ["ada@work.example"],
        "name": "Ada Lovelace",
        "given_name": "Ada",
        "extension_loyaltyNumber": 1234,
    });
    assert_eq!(Value::Object(claims), expected);
}

#[test]
fn app_token_claims_follow_the_flow_and_the_upstream_sign_in() {
    // A returning user: no newUser claim at all.
    let returning = token_claims(&flow_with_custom(), &profile(), false);
    assert!(!returning.contains_key("newUser"));
    // Only the selected claims: no email, no oid, no idp when not chosen.
    let mut bare = settings();
    bare.application_claims = vec![ApplicationClaim::DisplayName];
    let claims = token_claims(&bare, &profile(), true);
    for absent in [
        "emails",
        "oid",
        "idp",
        "newUser",
        "given_name",
        "extension_loyaltyNumber",
    ] {
        assert!(!claims.contains_key(absent), "{absent}");
    }
    assert_eq!(
        claims["sub"],
        json!("7b4e0a1c-oid"),
        "sub is always the object id"
    );
    // Upstream without acr: phishing-resistant amr gives phr; otherwise the policy, as B2C sets acr.
    let mut no_acr = profile();
    no_acr.acr = None;
    assert_eq!(token_claims(&bare, &no_acr, false)["acr"], json!("phr"));
    no_acr.amr = vec!["pwd".into()];
    let claims = token_claims(&bare, &no_acr, false);
    assert_eq!(claims["acr"], json!("b2c_1_signupsignin"));
    assert_eq!(claims["amr"], json!(["pwd"]));
    // Upstream without auth_time: the broker's sign-in time.
    no_acr.auth_time = None;
    assert_eq!(
        token_claims(&bare, &no_acr, false)["auth_time"],
        json!(NOW.unix_timestamp())
    );
}

#[test]
fn the_brokers_own_discovery_document_passes_the_brokers_metadata_rules() {
    // The broker's discovery document, read by the same rules the broker applies to upstream providers: its
    // issuer is the discovery URL's prefix, every endpoint is https, code and form_post are offered.
    let tenant = TenantId::parse("contoso").expect("tenant");
    let policy = PolicyId::parse("B2C_1_signupsignin").expect("policy");
    let urls = PolicyUrls::of("https://broker.example", &tenant, &policy);
    let document = urls.provider_metadata().to_json().expect("json");
    let mut as_upstream = provider_config(&urls.issuer);
    as_upstream.client_auth = UpstreamClientAuth::ClientSecretPost;
    assert_eq!(as_upstream.metadata_url.as_str(), urls.discovery);
    let metadata = tessera_broker::metadata::validate_provider_metadata(&as_upstream, &document)
        .expect("valid");
    assert_eq!(metadata.issuer, urls.issuer);
    assert_eq!(metadata.authorization_endpoint, urls.authorize);
    assert_eq!(
        metadata.end_session_endpoint.as_deref(),
        Some(urls.logout.as_str())
    );
    let doc: Value = serde_json::from_slice(&document).expect("json");
    for claim in ["tfp", "emails", "newUser", "idp", "oid"] {
        assert!(
            doc["claims_supported"]
                .as_array()
                .is_some_and(|c| c.contains(&json!(claim))),
            "{claim}"
        );
    }
    assert!(!document.windows(15).any(|w| w == b"private_key_jwt"));
}

#[test]
fn client_info_as_msal_reads_it() {
    use base64::Engine;
    let policy = PolicyId::parse("B2C_1_SignUpSignIn").expect("policy");
    let tenant = TenantId::parse("contoso").expect("tenant");
    let encoded = tessera_broker::claims::msal_client_info("7b4e0a1c", &policy, &tenant);
    let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .expect("base64url");
    let info: Value = serde_json::from_slice(&decoded).expect("json");
    assert_eq!(
        info,
        json!({"uid": "7b4e0a1c-b2c_1_signupsignin", "utid": "contoso"})
    );
}

#[test]
fn local_is_a_reserved_provider_id_and_local_sign_ins_claim_idp_local() {
    let mut local = provider_config(ISSUER);
    local.id = pid("local");
    assert!(matches!(
        local.validate(),
        Err(tessera_broker::config::ConfigError::ReservedIdentifier { .. })
    ));
    assert!(tessera_broker::config::ProviderId::local().is_local());
    assert_eq!(
        tessera_broker::claims::passkey_amr(true, true),
        vec!["pop", "swk", "user", "mfa"]
    );
    assert_eq!(
        tessera_broker::claims::passkey_amr(false, false),
        vec!["pop", "hwk", "user"]
    );
    assert!(tessera_broker::claims::is_phishing_resistant(
        &tessera_broker::claims::passkey_amr(false, false),
        None
    ));
    assert!(
        tessera_broker::claims::local_issuer("contoso")
            .starts_with(tessera_broker::claims::LOCAL_ISSUER_PREFIX)
    );
}
