//! fusebox's scenarios on an emulated Cortex-M0.
//!
//! Runs one half (`fusebox_scenarios::M0_PARTS`, feature `part2` for the
//! second) of every scenario group in `fusebox_scenarios::GROUPS` (the
//! same functions the host tests run: shared, not copied), then checks the
//! documented thumbv6m `size_of` of every state type and the stack's
//! high-water mark. Prints one line per
//! check over semihosting, closes with `m0: N passed, M failed`, and exits
//! QEMU with success only if nothing failed.
//!
//! Built for `thumbv6m-none-eabi` and run on
//! `qemu-system-arm -cpu cortex-m0 -machine microbit` (no compare-and-swap,
//! like the RP2040's cores): see `run.sh`.
#![no_std]
#![no_main]

use core::fmt::Write as _;

use cortex_m_rt::{ExceptionFrame, entry, exception};
use cortex_m_semihosting::{debug, hio, hprintln};

// Links cortex-m's critical-section implementation (feature
// `critical-section-single-core`), which portable-atomic's `critical-section`
// feature calls for the shared `&self` variants.
use cortex_m as _;

mod sizes;
mod stack;

/// Which half of the scenarios this build runs (`fusebox_scenarios::M0_PARTS`:
/// the microbit's flash holds one half at a time). `run.sh` builds both.
#[cfg(not(feature = "part2"))]
const PART: usize = 0;
#[cfg(feature = "part2")]
const PART: usize = 1;

#[entry]
fn main() -> ! {
    let mut passed: usize = 0;
    let mut failed: usize = 0;
    stack::paint();

    hprintln!("m0: part {} of 2", PART + 1);
    fusebox_scenarios::run_groups(fusebox_scenarios::M0_PARTS[PART], |scenario, outcome| {
        match outcome {
            Ok(()) => {
                passed += 1;
                hprintln!("ok   {}", scenario.name);
            }
            Err(failure) => {
                failed += 1;
                hprintln!("FAIL {}: {}", scenario.name, failure);
            }
        }
    });

    for check in sizes::CHECKS {
        if check.actual == check.documented {
            passed += 1;
            hprintln!("ok   size_of::<{}>() == {}", check.name, check.documented);
        } else {
            failed += 1;
            hprintln!(
                "FAIL size_of::<{}>() is {}, documented {}",
                check.name,
                check.actual,
                check.documented
            );
        }
    }

    let (used, size) = stack::high_water();
    if used < size {
        passed += 1;
        hprintln!("ok   stack: {} of {} bytes used", used, size);
    } else {
        failed += 1;
        hprintln!(
            "FAIL stack: all {} bytes used (overflow into the statics?)",
            size
        );
    }

    hprintln!("m0: {} passed, {} failed", passed, failed);
    if failed == 0 && passed > 0 {
        debug::exit(debug::EXIT_SUCCESS);
    } else {
        debug::exit(debug::EXIT_FAILURE);
    }
    // `exit` returns only when no debugger is attached to take the request.
    loop {
        cortex_m::asm::bkpt();
    }
}

/// Report the panic and make QEMU exit with failure (panic-probe would land
/// in the default HardFault handler, which loops forever). Printing errors
/// are ignored: a panic while panicking would recurse.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    if let Ok(mut err) = hio::hstderr() {
        let _ = writeln!(err, "m0: panic: {info}");
    }
    fail_forever()
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    if let Ok(mut err) = hio::hstderr() {
        let _ = writeln!(err, "m0: hard fault at pc {:#010x}", frame.pc());
    }
    fail_forever()
}

#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    if let Ok(mut err) = hio::hstderr() {
        let _ = writeln!(err, "m0: unexpected exception or interrupt {irqn}");
    }
    fail_forever()
}

fn fail_forever() -> ! {
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::bkpt();
    }
}

/// `size_of::<T>()` against the figure the module docs give for thumbv6m.
pub struct SizeCheck {
    /// The type, as the docs spell it.
    pub name: &'static str,
    /// `size_of` on this target.
    pub actual: usize,
    /// The thumbv6m column of the module's size table.
    pub documented: usize,
}

/// A [`SizeCheck`] of type `$t` against `$documented` bytes.
#[macro_export]
macro_rules! size_check {
    ($t:ty, $documented:expr) => {
        $crate::SizeCheck {
            name: stringify!($t),
            actual: core::mem::size_of::<$t>(),
            documented: $documented,
        }
    };
}

/// `n` rounded up to a multiple of 8 (the alignment of `u64` on thumbv6m).
pub const fn round8(n: usize) -> usize {
    n.div_ceil(8) * 8
}
