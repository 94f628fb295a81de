//! fusebox-std with its default features (no `tracing`, no `metrics`):
//! the `std-default/rate`, `std-default/breaker` and `std-default/scaling`
//! groups, side by side with governor and recloser. What they measure:
//! the docs of `tests/benches/common/std_groups.rs` and `scaling.rs`. Run alone (features unify over
//! the packages of one build): `cargo bench -p fusebox-std-default-bench`.

use criterion::{Criterion, criterion_group, criterion_main};

#[path = "../../benches/common/scaling.rs"]
mod scaling;
#[path = "../../benches/common/std_groups.rs"]
mod std_groups;
#[path = "../../benches/common/threads.rs"]
mod threads;

fn rate(c: &mut Criterion) {
    std_groups::rate(c, "std-default");
}

fn breakers(c: &mut Criterion) {
    std_groups::breakers(c, "std-default");
}

fn scaling(c: &mut Criterion) {
    scaling::scaling(c, "std-default");
}

criterion_group!(benches, rate, breakers, scaling);
criterion_main!(benches);
