//! The portal's page frame and its three page shapes — a form ([`FormPage`]), a list ([`ListPage`]) and an
//! object's page ([`DetailPage`]) — and the mapping of a service error to the field it is about.
//!
//! The frame has a skip link, a header, a navigation landmark and one `<main>` with one `<h1>`; every input has a
//! `<label>`, its hint and error are tied to it with `aria-describedby`, and an error summary at the top links to
//! each field. No inline script or style (the CSP allows neither).

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;
use tessera_service::ServiceError;

use super::{Ctx, ROOT};
use crate::common::reply::PageError;
use crate::common::views::render;

/// A link.
#[derive(Debug, Clone)]
pub struct Link {
    /// Where.
    pub href: String,
    /// Its text.
    pub label: String,
    /// Its element id (stable, for tests).
    pub id: String,
}

impl Link {
    /// A link with an id.
    pub fn new(href: impl Into<String>, label: impl Into<String>, id: impl Into<String>) -> Self {
        Self {
            href: href.into(),
            label: label.into(),
            id: id.into(),
        }
    }
}

/// What every portal page shares.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The page title.
    pub title: String,
    /// The CSRF token for the page's forms.
    pub csrf: String,
    /// Who is signed in, and as what.
    pub username: String,
    /// The role, in words.
    pub role: String,
    /// The main navigation.
    pub nav: Vec<Link>,
    /// Where this page sits (breadcrumbs).
    pub crumbs: Vec<Link>,
    /// A notice after a change ("Saved.").
    pub notice: Option<String>,
    /// The style sheet URL.
    pub style_src: String,
    /// The script URL (copy buttons).
    pub script_src: String,
}

impl Frame {
    /// The frame of a page for the signed-in administrator.
    pub fn new(ctx: &Ctx, title: &str, crumbs: Vec<Link>) -> Self {
        let mut nav = vec![Link::new(format!("{ROOT}/"), "Home", "nav-home")];
        nav.push(Link::new(
            format!("{ROOT}/authenticator/"),
            "Authenticator tenants",
            "nav-authenticator",
        ));
        nav.push(Link::new(
            format!("{ROOT}/audit"),
            "Audit events",
            "nav-audit",
        ));
        nav.push(Link::new(
            format!("{ROOT}/api-tokens"),
            "API tokens",
            "nav-tokens",
        ));
        if ctx.admin.is_global() {
            nav.push(Link::new(
                format!("{ROOT}/admins"),
                "Administrators",
                "nav-admins",
            ));
        }
        let role = match ctx.admin.role {
            tessera_service::admin::api_tokens::Role::GlobalAdmin => "global admin".to_owned(),
            tessera_service::admin::api_tokens::Role::TenantAdmin => {
                format!("tenant admin of {}", ctx.admin.tenants.join(", "))
            }
            tessera_service::admin::api_tokens::Role::ReadOnly => "read-only".to_owned(),
        };
        Self {
            title: title.to_owned(),
            csrf: ctx.csrf.as_str().to_owned(),
            username: ctx.admin.username.clone(),
            role,
            nav,
            crumbs,
            notice: None,
            style_src: crate::common::assets::style_src(),
            script_src: crate::common::assets::script_src(),
        }
    }

    /// The same frame with a notice.
    #[must_use]
    pub fn with_notice(mut self, notice: Option<String>) -> Self {
        self.notice = notice;
        self
    }
}

/// One choice of a `select`, radio group or checkbox group.
#[derive(Debug, Clone)]
pub struct Choice {
    /// The submitted value.
    pub value: String,
    /// Its label.
    pub label: String,
    /// Selected or checked.
    pub on: bool,
}

impl Choice {
    /// A choice.
    pub fn new(value: impl Into<String>, label: impl Into<String>, on: bool) -> Self {
        Self {
            value: value.into(),
            label: label.into(),
            on,
        }
    }
}

/// One form field.
#[derive(Debug, Clone)]
pub struct Field {
    /// The submitted name (also the element id, `field-{name}`).
    pub name: String,
    /// The label.
    pub label: String,
    /// `text`, `url`, `password`, `email`, `textarea`, `select`, `checkboxes`, `radios`, `checkbox`, `picker`.
    pub kind: &'static str,
    /// The current value.
    pub value: String,
    /// A hint under the label.
    pub hint: String,
    /// The error shown next to it.
    pub error: Option<String>,
    /// The choices of a `select`, `radios` or `checkboxes` field.
    pub choices: Vec<Choice>,
    /// Whether it must be filled in.
    pub required: bool,
    /// For a `picker` field: the search that offers more choices.
    pub picker: Option<Picker>,
}

/// The search of a `picker` field: its chosen values are its `choices` (ticked), and a search box finds more to
/// add. The search is a second submit button of the same form that sends it by GET to `action` (the form's own
/// page), so the page comes back with every input as it was and the matches below the box, without script.
#[derive(Debug, Clone, Default)]
pub struct Picker {
    /// Where the search goes (GET; the form page's path with `#{name}-matches`).
    pub action: String,
    /// The search box's label.
    pub label: String,
    /// Its hint.
    pub hint: String,
    /// The query shown in the box.
    pub query: String,
    /// The matches to add (unticked).
    pub matches: Vec<Choice>,
    /// What the matches are ("3 match “nok”.", "More match: type more of the name.").
    pub summary: String,
}

impl Field {
    /// A text field.
    pub fn text(name: &str, label: &str, value: &str, hint: &str) -> Self {
        Self {
            name: name.into(),
            label: label.into(),
            kind: "text",
            value: value.into(),
            hint: hint.into(),
            error: None,
            choices: Vec::new(),
            required: false,
            picker: None,
        }
    }

    /// The same field of another kind.
    #[must_use]
    pub fn kind(mut self, kind: &'static str) -> Self {
        self.kind = kind;
        self
    }

    /// The same field, required.
    #[must_use]
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// The same field with choices.
    #[must_use]
    pub fn choices(mut self, kind: &'static str, choices: Vec<Choice>) -> Self {
        self.kind = kind;
        self.choices = choices;
        self
    }

    /// The same field as a picker: `chosen` ticked, and a search for more.
    #[must_use]
    pub fn picker(mut self, chosen: Vec<Choice>, picker: Picker) -> Self {
        self.kind = "picker";
        self.choices = chosen;
        self.picker = Some(picker);
        self
    }

    /// The ids its `aria-describedby` names (hint, error).
    pub fn described_by(&self) -> String {
        let mut ids = Vec::new();
        if !self.hint.is_empty() {
            ids.push(format!("hint-{}", self.name));
        }
        if self.error.is_some() {
            ids.push(format!("error-{}", self.name));
        }
        ids.join(" ")
    }
}

/// Puts `error` next to the field it names (the service's messages start with the field: `metadata_url: ...`),
/// or returns it as a form-level error. Server faults are no user's to fix: they become an error page.
pub fn place_error(
    fields: &mut [Field],
    error: ServiceError,
) -> Result<Option<String>, Box<PageError>> {
    let server_fault = matches!(
        error,
        ServiceError::Store(_)
            | ServiceError::Corrupt(_)
            | ServiceError::Keys(_)
            | ServiceError::Random
            | ServiceError::Internal(_)
    );
    if server_fault {
        return Err(Box::new(error.into()));
    }
    let named = match &error {
        ServiceError::BrokerConfig(config) => Some(config.field().to_owned()),
        ServiceError::InvalidRedirectUri { .. } => Some("redirect_uris".to_owned()),
        ServiceError::InvalidOrigin { .. } => Some("origins".to_owned()),
        ServiceError::InvalidRpId { .. } => Some("rp_id".to_owned()),
        ServiceError::InvalidDisplayName { .. } => Some("display_name".to_owned()),
        ServiceError::ProviderSecretRequired => Some("client_secret".to_owned()),
        ServiceError::FlowExists { .. } => Some("name".to_owned()),
        ServiceError::TenantExists | ServiceError::BrokerTenantExists => Some("id".to_owned()),
        _ => None,
    };
    let text = error.to_string();
    let (prefix, rest) = match text.split_once(": ") {
        Some((prefix, rest)) => (Some(prefix.to_owned()), rest.to_owned()),
        None => (None, text.clone()),
    };
    let candidates = [named, prefix.map(|p| p.replace('-', "_"))];
    for candidate in candidates.into_iter().flatten() {
        // A field's own name, or the first segment of a nested one (`claim_mapping.email` → `email`); an item of
        // a list is its list's (`identity_providers[0]` → `identity_providers`).
        let leaf = candidate
            .rsplit('.')
            .next()
            .unwrap_or(&candidate)
            .to_owned();
        let list = leaf.split('[').next().unwrap_or(&leaf).to_owned();
        for name in [candidate.as_str(), leaf.as_str(), list.as_str()] {
            if let Some(field) = fields.iter_mut().find(|f| f.name == name) {
                let message = if text.starts_with(&format!("{candidate}: ")) {
                    rest.clone()
                } else {
                    text.clone()
                };
                field.error = Some(sentence(&message));
                return Ok(None);
            }
        }
    }
    Ok(Some(sentence(&text)))
}

fn sentence(text: &str) -> String {
    if text.starts_with("http://") || text.starts_with("https://") {
        let mut out = text.to_owned();
        if !out.ends_with('.') {
            out.push('.');
        }
        return out;
    }
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => {
            let mut out: String = first.to_uppercase().chain(chars).collect();
            if !out.ends_with('.') {
                out.push('.');
            }
            out
        }
        None => String::new(),
    }
}

/// A page with one form.
#[derive(Template)]
#[template(path = "portal/form.html")]
pub struct FormPage {
    /// The frame.
    pub frame: Frame,
    /// The heading.
    pub heading: String,
    /// Paragraphs above the form.
    pub intro: Vec<String>,
    /// The form's id.
    pub form_id: String,
    /// Where it posts.
    pub action: String,
    /// The fields.
    pub fields: Vec<Field>,
    /// An error about the whole form.
    pub form_error: Option<String>,
    /// The submit button's text.
    pub submit: String,
    /// The submit button's id.
    pub submit_id: String,
    /// Where "Cancel" goes.
    pub cancel: Option<String>,
}

impl FormPage {
    /// The error summary's entries: each field with an error.
    pub fn errors(&self) -> Vec<(&str, &str)> {
        self.fields
            .iter()
            .filter_map(|f| f.error.as_deref().map(|e| (f.name.as_str(), e)))
            .collect()
    }

    /// Renders it: 200, or 422 when it shows errors.
    pub fn respond(&self, set_csrf: Option<axum::http::HeaderValue>) -> Response {
        let status = if self.form_error.is_some() || !self.errors().is_empty() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        };
        render(self, status, set_csrf)
    }
}

/// One cell of a list.
#[derive(Debug, Clone)]
pub struct Cell {
    /// Its text.
    pub text: String,
    /// A link, if the cell is one.
    pub href: Option<String>,
}

impl Cell {
    /// A text cell.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            href: None,
        }
    }

    /// A link cell.
    pub fn link(text: impl Into<String>, href: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            href: Some(href.into()),
        }
    }
}

/// A search box above a list.
#[derive(Debug, Clone)]
pub struct Search {
    /// The query parameter.
    pub name: String,
    /// Its label.
    pub label: String,
    /// The current value.
    pub value: String,
    /// A choice of values (`value`, label; the first is usually "any": an empty value) instead of a text box.
    pub choices: Vec<(String, String)>,
    /// Why the current value is refused (shown next to the field).
    pub error: Option<String>,
}

impl Search {
    /// A text box (a prefix search).
    pub fn text(name: &str, label: &str, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            label: label.into(),
            value: value.into(),
            choices: Vec::new(),
            error: None,
        }
    }

    /// A choice of values; `any` labels the empty value (no filter).
    pub fn choice(
        name: &str,
        label: &str,
        value: impl Into<String>,
        any: &str,
        choices: &[(&str, &str)],
    ) -> Self {
        let mut all = vec![(String::new(), any.to_owned())];
        all.extend(
            choices
                .iter()
                .map(|(v, l)| ((*v).to_owned(), (*l).to_owned())),
        );
        Self {
            name: name.into(),
            label: label.into(),
            value: value.into(),
            choices: all,
            error: None,
        }
    }

    /// With the reason its value is refused.
    pub fn refused(mut self, error: Option<String>) -> Self {
        self.error = error;
        self
    }
}

/// The query string that repeats a list's filters (`name=value&...`, only those set, each encoded), to append to
/// its "Next page" and "First page" links so the next page keeps the filter.
pub fn filter_query(params: &std::collections::HashMap<String, String>, names: &[&str]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for name in names {
        if let Some(value) = params
            .get(*name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
        {
            query.append_pair(name, value);
        }
    }
    query.finish()
}

/// A paged list (a table).
#[derive(Template)]
#[template(path = "portal/list.html")]
pub struct ListPage {
    /// The frame.
    pub frame: Frame,
    /// The heading.
    pub heading: String,
    /// The table's id.
    pub list_id: String,
    /// Paragraphs above the list.
    pub intro: Vec<String>,
    /// Links above the list ("Add").
    pub actions: Vec<Link>,
    /// Search or filter fields (a GET form).
    pub filters: Vec<Search>,
    /// The column headings.
    pub columns: Vec<String>,
    /// The rows.
    pub rows: Vec<Vec<Cell>>,
    /// What an empty list says.
    pub empty: String,
    /// The next page's URL.
    pub next: Option<String>,
    /// The first page's URL, when not on it.
    pub first: Option<String>,
}

/// A small form with one button (delete, disable), posting its hidden fields and the CSRF token.
#[derive(Debug, Clone)]
pub struct Button {
    /// Where it posts.
    pub action: String,
    /// Its text.
    pub label: String,
    /// Its id.
    pub id: String,
    /// Hidden fields.
    pub hidden: Vec<(String, String)>,
    /// A destructive action (asks first: the button sits in a closed `<details>`).
    pub danger: bool,
}

/// One section of an object's page.
#[derive(Debug, Clone, Default)]
pub struct Section {
    /// Its heading.
    pub heading: String,
    /// Its id.
    pub id: String,
    /// Label and value pairs.
    pub facts: Vec<(String, String)>,
    /// Links.
    pub links: Vec<Link>,
    /// Buttons.
    pub buttons: Vec<Button>,
}

/// "Run user flow": the application and reply URL to run with.
#[derive(Debug, Clone)]
pub struct RunForm {
    /// Where the form goes (GET, in a new tab).
    pub action: String,
    /// The applications.
    pub applications: Vec<Choice>,
    /// The reply URLs (each labelled with its application).
    pub reply_urls: Vec<Choice>,
}

/// A secret shown once.
#[derive(Debug, Clone)]
pub struct ShownOnce {
    /// What it is.
    pub label: String,
    /// The secret.
    pub value: String,
}

/// An object's page.
#[derive(Template)]
#[template(path = "portal/detail.html")]
pub struct DetailPage {
    /// The frame.
    pub frame: Frame,
    /// The heading.
    pub heading: String,
    /// The page's `<main>` id.
    pub page_id: String,
    /// Paragraphs under the heading.
    pub intro: Vec<String>,
    /// A secret to copy now (shown once).
    pub secret: Option<ShownOnce>,
    /// The sections.
    pub sections: Vec<Section>,
    /// "Run user flow", on a user flow's page.
    pub run: Option<RunForm>,
}
