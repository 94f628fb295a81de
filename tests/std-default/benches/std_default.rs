//! fusebox-std with its default features (no `tracing`, no `metrics`):
//! the `std-default/rate` and `std-default/breaker` groups, side by side
//! with governor and recloser. What they measure: the docs of
//! `tests/benches/common/std_groups.rs`. Run alone (features unify over
//! the packages of one build): `cargo bench -p fusebox-std-default-bench`.

use criterion::{Criterion, criterion_group, criterion_main};

#[path = "../../benches/common/std_groups.rs"]
mod std_groups;
#[path = "../../benches/common/two_threads.rs"]
mod two_threads;

fn rate(c: &mut Criterion) {
    std_groups::rate(c, "std-default");
}

fn breakers(c: &mut Criterion) {
    std_groups::breakers(c, "std-default");
}

criterion_group!(benches, rate, breakers);
criterion_main!(benches);
