//! The stack's high-water mark. 16 KiB of RAM is small, and an overflow
//! would not fault here (no MPU, no guard): it would silently overwrite the
//! statics below the stack. So the free stack is painted before the
//! scenarios run and scanned after: a scenario that used it all fails the
//! run.

use core::ptr;

unsafe extern "C" {
    // cortex-m-rt's link.x: the stack grows down from `_stack_start` to
    // `_stack_end` (the end of `.uninit`).
    static _stack_start: u32;
    static _stack_end: u32;
}

const PAINT: u32 = 0x5afe_57ac;

fn bounds() -> (usize, usize) {
    let top = &raw const _stack_start as usize;
    let bottom = &raw const _stack_end as usize;
    (bottom, top)
}

/// Paint the unused stack, from its bottom to 256 bytes below the current
/// stack pointer (room for this function's own frame).
#[inline(never)]
pub fn paint() {
    let (bottom, _) = bounds();
    let sp = cortex_m::register::msp::read() as usize;
    let mut p = bottom;
    while p.saturating_add(256) < sp {
        // SAFETY: [bottom, sp - 256) is RAM reserved for the stack and below
        // every live frame; nothing else refers to it.
        unsafe { ptr::write_volatile(p as *mut u32, PAINT) };
        p += 4;
    }
}

/// `(used, size)` in bytes: how deep the stack went since [`paint`], and
/// its size. `used == size` means it reached the bottom: an overflow.
pub fn high_water() -> (usize, usize) {
    let (bottom, top) = bounds();
    let mut p = bottom;
    // SAFETY: reads of the stack's own RAM, below the live frames.
    while p < top && unsafe { ptr::read_volatile(p as *const u32) } == PAINT {
        p += 4;
    }
    (top - p, top - bottom)
}
