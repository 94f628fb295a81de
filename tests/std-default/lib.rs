//! A bench-only package: `benches/std_default.rs` runs fusebox-std's
//! `rate` and `breaker` bench groups (`tests/benches/common/std_groups.rs`)
//! with fusebox-std's default features. Cargo unifies features over the
//! packages of one build, and `fusebox-tests` turns on `tracing` and
//! `metrics`, so this needs a package of its own, benched alone:
//! `cargo bench -p fusebox-std-default-bench`.
