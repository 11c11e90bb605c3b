//! The errors every operation can answer, added to the generated document by rule, so that no handler's
//! `#[utoipa::path]` can forget one: what an operation takes (a body, query parameters, path parameters,
//! `If-Match`, a token) decides which problems it may answer. A status a handler documents itself keeps its own,
//! more precise description. Every one is `application/problem+json` with the `Problem` schema — also those made by
//! the framework rather than a handler (a body that is not JSON, too large or of another media type, a query or
//! path parameter that does not parse: [`super::problem::framework_errors_as_problems`]).
//!
//! Also here: operation ids are unique. utoipa names an operation after its handler, and both roles have handlers
//! of the same name (`get_tenant`, `search_users`, ...): the broker's are prefixed `broker_`, and any other name
//! still repeated is qualified by its resource (`list` → `list_api_tokens`, `list_audit_events`).

use std::collections::BTreeMap;

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};

use super::BASE;
use super::problem::PROBLEM_JSON;

/// What an operation takes, as its documentation says.
struct Takes {
    body: bool,
    query: bool,
    path: bool,
    if_match: bool,
    token: bool,
    write: bool,
}

fn takes(method: &str, operation: &Operation) -> Takes {
    let parameters: Vec<_> = operation
        .parameters
        .iter()
        .flatten()
        .filter_map(|p| match p {
            RefOr::T(p) => Some(p),
            RefOr::Ref(_) => None,
        })
        .collect();
    Takes {
        body: operation.request_body.is_some(),
        query: parameters
            .iter()
            .any(|p| matches!(p.parameter_in, ParameterIn::Query)),
        path: parameters
            .iter()
            .any(|p| matches!(p.parameter_in, ParameterIn::Path)),
        if_match: parameters.iter().any(|p| {
            matches!(p.parameter_in, ParameterIn::Header) && p.name.eq_ignore_ascii_case("if-match")
        }),
        token: operation
            .security
            .as_ref()
            .is_some_and(|requirements| !requirements.is_empty()),
        write: method != "get",
    }
}

/// The problems an operation that takes `what` can answer: status and description.
fn problems(what: &Takes) -> Vec<(u16, &'static str)> {
    let mut out = Vec::new();
    if what.body || what.query {
        out.push((
            400,
            "Malformed: the body is not JSON, or a query or path parameter does not parse",
        ));
    } else if what.path {
        out.push((400, "Malformed: a path parameter does not parse"));
    }
    if what.token {
        out.push((401, "No valid API token (`WWW-Authenticate: Bearer`)"));
        out.push((
            403,
            "The token's role does not allow this (a read-only token's change, a tenant admin's global operation)",
        ));
    }
    if what.path {
        out.push((
            404,
            "No such object, or one of a tenant the token does not see (never 403 for those)",
        ));
    }
    if what.write && what.token {
        out.push((
            409,
            "Conflicts with the stored data (it exists already, or is still in use)",
        ));
    }
    if what.if_match {
        out.push((
            412,
            "It changed since it was read (`If-Match` names another version)",
        ));
    }
    if what.body {
        out.push((413, "The body is larger than the server accepts"));
        out.push((415, "The body is not `application/json`"));
    }
    if what.body || what.query {
        out.push((
            422,
            "A field or query parameter is invalid (`errors` names it)",
        ));
    }
    if what.if_match {
        out.push((428, "No `If-Match`: send the `ETag` of the version read"));
    }
    out.push((
        500,
        "Something went wrong on our side (the detail is only the request id, `x-request-id`)",
    ));
    out.push((503, "The store is unavailable: nothing was done, try again"));
    out
}

fn problem_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .into()
}

fn operations_mut(
    document: &mut OpenApi,
) -> impl Iterator<Item = (&String, &'static str, &mut Operation)> {
    document.paths.paths.iter_mut().flat_map(|(path, item)| {
        [
            ("get", item.get.as_mut()),
            ("put", item.put.as_mut()),
            ("post", item.post.as_mut()),
            ("delete", item.delete.as_mut()),
            ("patch", item.patch.as_mut()),
        ]
        .into_iter()
        .filter_map(move |(method, operation)| operation.map(|o| (path, method, o)))
    })
}

/// Completes the document: every operation's problems, unique operation ids.
pub fn complete(document: &mut OpenApi) {
    let meta = format!("{BASE}/openapi.json");
    for (path, method, operation) in operations_mut(document) {
        // The document itself is served from memory: it answers nothing but 200.
        if *path == meta {
            continue;
        }
        let what = takes(method, operation);
        for (status, description) in problems(&what) {
            operation
                .responses
                .responses
                .entry(status.to_string())
                .or_insert_with(|| problem_response(description));
        }
    }
    unique_operation_ids(document);
}

fn repeated(document: &mut OpenApi) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for (_, _, operation) in operations_mut(document) {
        if let Some(id) = &operation.operation_id {
            *seen.entry(id.clone()).or_insert(0) += 1;
        }
    }
    seen.retain(|_, n| *n > 1);
    seen
}

fn unique_operation_ids(document: &mut OpenApi) {
    let broker = format!("{BASE}/broker/");
    let twice = repeated(document);
    for (path, _, operation) in operations_mut(document) {
        if let Some(id) = operation.operation_id.as_mut()
            && twice.contains_key(id.as_str())
            && path.starts_with(&broker)
        {
            *id = format!("broker_{id}");
        }
    }
    let twice = repeated(document);
    for (path, _, operation) in operations_mut(document) {
        if let Some(id) = operation.operation_id.as_mut()
            && twice.contains_key(id.as_str())
        {
            let resource = path
                .trim_start_matches(BASE)
                .split('/')
                .find(|s| !s.is_empty() && !s.starts_with('{'))
                .unwrap_or_default()
                .replace('-', "_");
            *id = format!("{id}_{resource}");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn every_operation_id_is_unique() {
        let mut document = super::super::document();
        let mut ids = BTreeSet::new();
        for (path, method, operation) in operations_mut(&mut document) {
            let id = operation
                .operation_id
                .clone()
                .unwrap_or_else(|| panic!("{method} {path} has no operation id"));
            assert!(ids.insert(id.clone()), "{id} twice");
        }
        assert!(ids.contains("broker_get_tenant") && ids.contains("get_tenant"));
        assert!(ids.contains("list_api_tokens") && ids.contains("list_audit_events"));
    }
}
