//! The rule of dependencies (`docs/architecture.md`), read from `cargo metadata`: the protocol cores and the use
//! cases have no web framework or database driver, the use cases no HTTP layer, the store backends no HTTP layer, and
//! the production binary no test code. A rule about a crate that does not exist (yet) is skipped.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::process::Command;

use serde_json::Value;

/// Web framework and database driver crates.
const FRAMEWORKS_AND_DRIVERS: &[&str] = &["axum", "hyper", "sqlx", "tokio-postgres", "rusqlite"];

/// One rule: no crate in `from`'s normal dependency closure (build dependencies included, dev-dependencies not)
/// may be named in `forbidden` or start with one of `forbidden_prefixes`. The closure is not followed into the
/// crates named in `sealed`: they are allowed, and what they use inside is theirs (the broker's HTTP client
/// `reqwest` runs on hyper, but none of hyper's types reach the use cases).
struct Rule {
    from: &'static str,
    forbidden: &'static [&'static str],
    forbidden_prefixes: &'static [&'static str],
    sealed: &'static [&'static str],
    why: &'static str,
}

const RULES: &[Rule] = &[
    Rule {
        from: "tessera-core",
        forbidden: FRAMEWORKS_AND_DRIVERS,
        forbidden_prefixes: &[],
        sealed: &[],
        why: "the protocol cores are pure",
    },
    Rule {
        from: "tessera-webauthn",
        forbidden: FRAMEWORKS_AND_DRIVERS,
        forbidden_prefixes: &[],
        sealed: &[],
        why: "the protocol cores are pure",
    },
    Rule {
        from: "tessera-oidc",
        forbidden: FRAMEWORKS_AND_DRIVERS,
        forbidden_prefixes: &[],
        sealed: &[],
        why: "the protocol cores are pure",
    },
    Rule {
        from: "tessera-broker",
        forbidden: FRAMEWORKS_AND_DRIVERS,
        forbidden_prefixes: &[],
        sealed: &[],
        why: "the protocol cores are pure",
    },
    Rule {
        from: "tessera-service",
        forbidden: FRAMEWORKS_AND_DRIVERS,
        forbidden_prefixes: &[],
        sealed: &["reqwest"],
        why: "the use cases talk to the store through its traits, never to a driver",
    },
    Rule {
        from: "tessera-service",
        forbidden: &["tessera-http"],
        forbidden_prefixes: &[],
        sealed: &[],
        why: "the use cases know nothing of HTTP",
    },
    Rule {
        from: "tessera-store-sqlite",
        forbidden: &["tessera-http", "axum", "hyper"],
        forbidden_prefixes: &[],
        sealed: &[],
        why: "a store backend knows nothing of HTTP",
    },
    Rule {
        from: "tessera-store-postgres",
        forbidden: &["tessera-http", "axum", "hyper"],
        forbidden_prefixes: &[],
        sealed: &[],
        why: "a store backend knows nothing of HTTP",
    },
    Rule {
        from: "tessera-store",
        forbidden: &["tessera-http", "axum", "hyper"],
        forbidden_prefixes: &[],
        sealed: &[],
        why: "the store knows nothing of HTTP",
    },
    Rule {
        from: "tessera-server",
        forbidden: &["tessera-testkit"],
        forbidden_prefixes: &["passkey"],
        sealed: &[],
        why: "the production binary links no test code (the load generator is `tessera-bench`; rcgen is allowed: \
              `tessera demo --tls` makes its own loopback certificate with it)",
    },
];

/// The dependency graph: package name → names of its normal and build dependencies.
type Graph = BTreeMap<String, BTreeSet<String>>;

/// Reads the workspace's resolved graph with `cargo metadata --format-version 1`.
fn workspace_graph() -> Graph {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.toml"))
        .output()
        .expect("run cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("cargo metadata JSON");
    graph_of(&metadata)
}

/// The graph of a `cargo metadata` document (its `resolve` section, named through `packages`).
fn graph_of(metadata: &Value) -> Graph {
    let names: BTreeMap<&str, &str> = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| {
            (
                p["id"].as_str().expect("package id"),
                p["name"].as_str().expect("package name"),
            )
        })
        .collect();
    let mut graph = Graph::new();
    for node in metadata["resolve"]["nodes"].as_array().expect("resolve") {
        let name = names[node["id"].as_str().expect("node id")];
        let deps = graph.entry(name.to_owned()).or_default();
        for dep in node["deps"].as_array().expect("deps") {
            // `kind` is null for a normal dependency, "build" or "dev" otherwise.
            let linked = dep["dep_kinds"]
                .as_array()
                .expect("dep_kinds")
                .iter()
                .any(|k| k["kind"].as_str() != Some("dev"));
            if linked {
                deps.insert(names[dep["pkg"].as_str().expect("dep pkg")].to_owned());
            }
        }
    }
    graph
}

/// Every broken rule, each with the dependency chain that breaks it.
fn violations(graph: &Graph) -> Vec<String> {
    let mut found = Vec::new();
    for rule in RULES {
        if !graph.contains_key(rule.from) {
            continue;
        }
        // Breadth first, remembering how each crate was reached, so the message shows the shortest chain.
        let mut reached_from: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue = VecDeque::from([rule.from]);
        while let Some(name) = queue.pop_front() {
            for dep in graph.get(name).into_iter().flatten() {
                if dep == rule.from || reached_from.contains_key(dep.as_str()) {
                    continue;
                }
                reached_from.insert(dep, name);
                if !rule.sealed.contains(&dep.as_str()) {
                    queue.push_back(dep);
                }
                let bad = rule.forbidden.contains(&dep.as_str())
                    || rule.forbidden_prefixes.iter().any(|p| dep.starts_with(p));
                if bad {
                    let mut chain = vec![dep.as_str()];
                    while let Some(previous) = reached_from.get(chain[chain.len() - 1]) {
                        chain.push(previous);
                    }
                    chain.reverse();
                    found.push(format!(
                        "{} depends on {dep} ({}): {}",
                        rule.from,
                        chain.join(" -> "),
                        rule.why
                    ));
                }
            }
        }
    }
    found
}

#[test]
fn the_workspace_keeps_the_rule_of_dependencies() {
    let graph = workspace_graph();
    for present in [
        "tessera-core",
        "tessera-webauthn",
        "tessera-oidc",
        "tessera-server",
    ] {
        assert!(graph.contains_key(present), "{present} is not in the graph");
    }
    let broken = violations(&graph);
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

fn graph(edges: &[(&str, &str)]) -> Graph {
    let mut graph = Graph::new();
    for (from, to) in edges {
        graph
            .entry((*from).to_owned())
            .or_default()
            .insert((*to).to_owned());
        graph.entry((*to).to_owned()).or_default();
    }
    graph
}

#[test]
fn a_pure_crate_reaching_a_database_driver_through_another_crate_is_reported_with_the_chain() {
    let broken = violations(&graph(&[
        ("tessera-oidc", "tessera-core"),
        ("tessera-oidc", "url"),
        ("url", "helper"),
        ("helper", "rusqlite"),
    ]));
    assert_eq!(
        broken,
        [
            "tessera-oidc depends on rusqlite (tessera-oidc -> url -> helper -> rusqlite): \
          the protocol cores are pure"
        ]
    );
}

#[test]
fn the_server_linking_a_passkey_crate_is_reported() {
    let broken = violations(&graph(&[
        ("tessera-server", "tessera-http"),
        ("tessera-server", "passkey-types"),
    ]));
    assert_eq!(broken.len(), 1, "{broken:?}");
    assert!(broken[0].starts_with("tessera-server depends on passkey-types"));
}

#[test]
fn the_service_depending_on_the_http_layer_is_reported_and_absent_crates_are_skipped() {
    let broken = violations(&graph(&[("tessera-service", "tessera-http")]));
    assert_eq!(broken.len(), 1, "{broken:?}");
    assert!(broken[0].contains("the use cases know nothing of HTTP"));
    assert!(violations(&graph(&[("tessera-http", "axum")])).is_empty());
}

#[test]
fn the_service_may_use_hyper_only_inside_its_http_client() {
    assert!(
        violations(&graph(&[
            ("tessera-service", "reqwest"),
            ("reqwest", "hyper")
        ]))
        .is_empty()
    );
    let direct = violations(&graph(&[
        ("tessera-service", "reqwest"),
        ("reqwest", "hyper"),
        ("tessera-service", "hyper"),
    ]));
    assert_eq!(direct.len(), 1, "{direct:?}");
    assert!(direct[0].starts_with("tessera-service depends on hyper (tessera-service -> hyper)"));
    let other_route = violations(&graph(&[("tessera-service", "helper"), ("helper", "axum")]));
    assert_eq!(other_route.len(), 1, "{other_route:?}");
}

#[test]
fn dev_dependencies_do_not_count() {
    let metadata = serde_json::json!({
        "packages": [
            {"id": "a", "name": "tessera-server"},
            {"id": "b", "name": "tessera-testkit"},
        ],
        "resolve": {"nodes": [
            {"id": "a", "deps": [{"pkg": "b", "dep_kinds": [{"kind": "dev"}]}]},
            {"id": "b", "deps": []},
        ]},
    });
    assert!(violations(&graph_of(&metadata)).is_empty());
    let normal = serde_json::json!({
        "packages": [
            {"id": "a", "name": "tessera-server"},
            {"id": "b", "name": "tessera-testkit"},
        ],
        "resolve": {"nodes": [
            {"id": "a", "deps": [{"pkg": "b", "dep_kinds": [{"kind": null}]}]},
            {"id": "b", "deps": []},
        ]},
    });
    assert_eq!(violations(&graph_of(&normal)).len(), 1);
}
