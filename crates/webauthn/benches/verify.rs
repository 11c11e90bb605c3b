//! Verification cost: full ES256 and RS256 assertion verification (JSON parsing included) against the bare aws-lc-rs
//! P-256 verification in the same run, and registration (none and packed self attestation).
//!
//! `cargo bench -p tessera-webauthn --bench verify -- --warm-up-time 1 --measurement-time 3`

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, ParsedPublicKey, UnparsedPublicKey};
use common::{Assertion, Env, Registration, TestKey, record_for, sha256};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use tessera_webauthn::{
    AuthenticationResponseJSON, RegistrationResponseJSON, UserIdentification,
    verify_authentication, verify_registration,
};

fn assertion_json(key: &TestKey) -> Vec<u8> {
    let mut assertion = Assertion::new(key);
    assertion.sign_count = 1;
    serde_json::to_vec(&assertion.json()).unwrap()
}

fn assertions(c: &mut Criterion) {
    let env = Env::new();
    let mut expectation = env.authentication();
    expectation.user = UserIdentification::Identified {
        user_handle: common::USER,
    };

    // The bare primitive: one P-256 ECDSA verification over the same kind of message.
    let key = TestKey::p256();
    let TestKey::P256(pair) = &key else {
        unreachable!()
    };
    let point = aws_lc_rs::signature::KeyPair::public_key(pair)
        .as_ref()
        .to_vec();
    let mut message = vec![0x11; 37];
    message.extend_from_slice(&sha256(b"client data"));
    let signature = key.sign(&message);
    c.bench_function("bare_p256_verify_unparsed_key", |b| {
        b.iter(|| {
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, black_box(&point))
                .verify(black_box(&message), black_box(&signature))
                .unwrap();
        });
    });
    let parsed = ParsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &point).unwrap();
    c.bench_function("bare_p256_verify_parsed_key", |b| {
        b.iter(|| {
            parsed
                .verify_sig(black_box(&message), black_box(&signature))
                .unwrap()
        });
    });

    let json = assertion_json(&key);
    let record = record_for(&key);
    c.bench_function("es256_assertion_full", |b| {
        b.iter(|| {
            let response = AuthenticationResponseJSON::from_json(black_box(&json)).unwrap();
            verify_authentication(&response, &expectation, &record).unwrap()
        });
    });

    let rsa = TestKey::rsa2048();
    let json = assertion_json(&rsa);
    let record = record_for(&rsa);
    c.bench_function("rs256_assertion_full", |b| {
        b.iter(|| {
            let response = AuthenticationResponseJSON::from_json(black_box(&json)).unwrap();
            verify_authentication(&response, &expectation, &record).unwrap()
        });
    });
}

fn registrations(c: &mut Criterion) {
    let env = Env::new();
    let expectation = env.registration();
    for fmt in ["none", "packed"] {
        let mut reg = Registration::new(TestKey::p256());
        reg.fmt = fmt.to_owned();
        let json = serde_json::to_vec(&reg.json()).unwrap();
        let check = RegistrationResponseJSON::from_json(&json).unwrap();
        if verify_registration(&check, &expectation, |_| false).is_err() {
            eprintln!("skipping es256_registration_{fmt}: this build does not verify it");
            continue;
        }
        c.bench_function(&format!("es256_registration_{fmt}"), |b| {
            b.iter(|| {
                let response = RegistrationResponseJSON::from_json(black_box(&json)).unwrap();
                verify_registration(&response, &expectation, |_| false).unwrap()
            });
        });
    }
}

/// The target ratio, measured robustly on a shared machine: bare and full ES256 verifications interleaved in short
/// batches, so that both see the same load; prints the medians and the median of the per-batch ratios.
fn interleaved_ratio(_c: &mut Criterion) {
    use std::time::Instant;
    const BATCH: u32 = 20;
    const ROUNDS: usize = 300;
    let env = Env::new();
    let mut expectation = env.authentication();
    expectation.user = UserIdentification::Identified {
        user_handle: common::USER,
    };
    let key = TestKey::p256();
    let TestKey::P256(pair) = &key else {
        unreachable!()
    };
    let point = aws_lc_rs::signature::KeyPair::public_key(pair)
        .as_ref()
        .to_vec();
    let mut message = vec![0x11; 37];
    message.extend_from_slice(&sha256(b"client data"));
    let signature = key.sign(&message);
    let json = assertion_json(&key);
    let record = record_for(&key);
    let (mut bare, mut full, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let start = Instant::now();
        for _ in 0..BATCH {
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, black_box(&point))
                .verify(black_box(&message), black_box(&signature))
                .unwrap();
        }
        let middle = Instant::now();
        for _ in 0..BATCH {
            let response = AuthenticationResponseJSON::from_json(black_box(&json)).unwrap();
            black_box(verify_authentication(&response, &expectation, &record).unwrap());
        }
        let end = Instant::now();
        let b = (middle - start).as_secs_f64() * 1e6 / f64::from(BATCH);
        let f = (end - middle).as_secs_f64() * 1e6 / f64::from(BATCH);
        bare.push(b);
        full.push(f);
        ratios.push(f / b);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    eprintln!(
        "interleaved ES256: bare P-256 verify median {:.1} us, full assertion median {:.1} us, median ratio {:.3}",
        median(&mut bare),
        median(&mut full),
        median(&mut ratios)
    );
}

criterion_group!(benches, assertions, registrations, interleaved_ratio);
criterion_main!(benches);
