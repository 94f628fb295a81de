//! Replays every committed corpus and regression input through its target
//! (the same functions the cargo-fuzz binaries call), so `cargo test` fails
//! on a fault the fuzzer once found. CI runs this; exploration is in
//! `tests/deep.sh` (part `fuzz`).
use std::path::Path;

#[test]
fn replay_committed_corpora() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut total = 0;
    for target in fusebox_fuzz::TARGETS {
        let mut files = 0;
        for dir in ["corpus", "regressions"] {
            let Ok(entries) = std::fs::read_dir(root.join(dir).join(target.name)) else {
                continue;
            };
            for entry in entries {
                let path = entry.expect("readable directory").path();
                let data = std::fs::read(&path).expect("readable input");
                let run = target.run;
                if std::panic::catch_unwind(|| run(&data)).is_err() {
                    panic!("{}: input {} fails", target.name, path.display());
                }
                files += 1;
            }
        }
        assert!(
            files > 0,
            "{}: no committed corpus under fuzz/corpus/{}",
            target.name,
            target.name
        );
        total += files;
    }
    println!(
        "replayed {total} inputs over {} targets",
        fusebox_fuzz::TARGETS.len()
    );
}
