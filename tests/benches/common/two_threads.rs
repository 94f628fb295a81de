//! `two_threads`: the 2-thread runner of the criterion benches (included
//! with `#[path]` by each bench that needs it).

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration as StdDuration, Instant as StdInstant};

/// `iters` calls of `op` on each of 2 threads at once; the time per call,
/// summed over both threads (wall time / total calls).
pub fn two_threads(iters: u64, op: &(dyn Fn() -> bool + Sync)) -> StdDuration {
    let barrier = Barrier::new(2);
    let start = std::sync::Mutex::new(None::<StdInstant>);
    let elapsed = std::thread::scope(|s| {
        let worker = || {
            barrier.wait();
            {
                let mut st = start.lock().expect("lock");
                if st.is_none() {
                    *st = Some(StdInstant::now());
                }
            }
            let mut ok = 0u64;
            for _ in 0..iters {
                ok += u64::from(black_box(op()));
            }
            black_box(ok);
            StdInstant::now()
        };
        let a = s.spawn(worker);
        let b = s.spawn(worker);
        let end = a.join().expect("thread").max(b.join().expect("thread"));
        end - start.lock().expect("lock").expect("started")
    });
    // Criterion divides by `iters`: per call over both threads.
    elapsed / 2
}
