//! Where a sign-in goes first: straight to one identity provider, or to the page where the user chooses.
//!
//! Rules, in order:
//! 1. an `idp` hint naming one of the flow's providers (by id, case-insensitively) goes straight there, and
//!    `idp=local` to the local-account page when the flow offers local accounts;
//! 2. a `domain_hint` equal (case-insensitively) to the `domain_hint` of one of the flow's providers goes there;
//! 3. a flow with exactly one provider and no local accounts goes straight to it;
//! 4. a flow with local accounts only goes to the local sign-in;
//! 5. otherwise the choice page, listing the flow's providers in order (and local accounts if offered).
//!
//! A hint that matches nothing is ignored, as Azure AD B2C does, so a stale link still shows the choice page.

use crate::config::{FlowSettings, IdentityProvider, LOCAL_ACCOUNTS_ID, LocalAccounts, ProviderId};

/// The hints an app may send with its authorization request.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChoiceHints<'a> {
    /// `domain_hint`.
    pub domain_hint: Option<&'a str>,
    /// `idp`: a provider id.
    pub idp: Option<&'a str>,
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// Redirect to this provider.
    Provider(ProviderId),
    /// The local-account page: local accounts are the only option, or the `idp` hint asked for them.
    LocalAccount,
    /// Show the choice page.
    ChoicePage {
        /// The providers to offer, in the flow's order.
        providers: Vec<ProviderId>,
        /// Whether to offer local accounts too.
        local_accounts: bool,
    },
}

/// Decides for the flow version's settings. `providers` are the tenant's provider configurations (for their
/// `domain_hint`); providers the flow does not offer are never chosen.
pub fn decide(
    settings: &FlowSettings,
    providers: &[IdentityProvider],
    hints: ChoiceHints<'_>,
) -> Choice {
    let offered = &settings.identity_providers;
    let local = settings.local_accounts != LocalAccounts::None;
    if local
        && hints
            .idp
            .is_some_and(|idp| idp.trim().eq_ignore_ascii_case(LOCAL_ACCOUNTS_ID))
    {
        return Choice::LocalAccount;
    }
    if let Some(idp) = hints.idp
        && let Some(id) = offered
            .iter()
            .find(|id| id.as_str().eq_ignore_ascii_case(idp.trim()))
    {
        return Choice::Provider(id.clone());
    }
    if let Some(hint) = hints.domain_hint {
        let hint = hint.trim();
        let matched = offered.iter().find(|id| {
            providers.iter().any(|p| {
                p.id == **id
                    && p.domain_hint
                        .as_deref()
                        .is_some_and(|d| d.eq_ignore_ascii_case(hint))
            })
        });
        if let Some(id) = matched {
            return Choice::Provider(id.clone());
        }
    }
    match (offered.as_slice(), local) {
        ([only], false) => Choice::Provider(only.clone()),
        ([], true) => Choice::LocalAccount,
        _ => Choice::ChoicePage {
            providers: offered.clone(),
            local_accounts: local,
        },
    }
}
