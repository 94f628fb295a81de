import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));

/** The release build of the gateway, where `cargo build --release` in examples-rp2040 puts it. */
export const defaultElf = resolve(here, '../../../examples-rp2040/target/thumbv6m-none-eabi/release/gateway');

/**
 * Registers rp2040js 1.4.1 does not implement that embassy-rp's init
 * touches once at boot, harmlessly: the ring oscillator's setup (its
 * RANDOMBIT register is emulated in board.js), the voltage regulator (left at
 * its default), and the I2C SDA hold time. Any other access to an
 * unimplemented register fails the run.
 */
export const knownEmulatorWarnings = [
  /^\[ROSC_BASE\] Unimplemented peripheral write to 0x(0|4|8|10):/,
  /^\[VREG_AND_CHIP_RESET_BASE\] Unimplemented peripheral (read from|write to) 0x[04]\b/,
  /^\[I2C[01]\] Unimplemented write to IC_SDA_HOLD$/,
];
