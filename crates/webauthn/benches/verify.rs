//! Verification benchmarks (filled in as the ceremonies land).

use criterion::{Criterion, criterion_group, criterion_main};

fn challenge(c: &mut Criterion) {
    c.bench_function("generate_challenge", |b| {
        b.iter(tessera_webauthn::generate_challenge)
    });
}

criterion_group!(benches, challenge);
criterion_main!(benches);
