// The harness's fault watch catches what it claims to: each case runs the
// gateway for a moment, injects a fault from outside the firmware, and
// expects the run to stop with a FirmwareFault naming it. Run by run.sh
// before the scenario, so a broken watch (say, after an emulator upgrade)
// fails CI instead of passing every firmware.
import { relative } from 'node:path';
import { Board, FirmwareFault } from './lib/board.js';
import { Tmp102, Host } from './lib/devices.js';
import { defaultElf } from './lib/common.js';

const elf = process.argv[2] ?? defaultElf;
const cases = [
  ['an NMI (no handler bound: DefaultHandler)', /exception 2 went to DefaultHandler/, (b) => {
    b.core.pendingNMI = true;
    b.core.interruptsUpdated = true;
  }],
  ['a HardFault exception', /HardFault/, (b) => b.core.exceptionEntry(3)],
  ['a jump into the panic handler', /panic handler|_defmt_panic/, (b) => {
    const [, panic] = [...b.symbols].find(([name]) => name.includes('rust_begin_unwind'));
    b.core.PC = panic.value & ~1;
  }],
  ['an undefined instruction (UDF, as panic-probe ends)', /undefined instruction/, (b) => {
    const pc = b.core.PC & ~1;
    b.mcu.flash16[(pc - 0x10000000) / 2] = 0xde00; // udf #0 where the core is about to run
  }],
];
let failed = 0;
for (const [what, expected, inject] of cases) {
  const board = new Board(elf);
  new Tmp102(board, board.mcu.i2c[0]);
  new Host(board, board.mcu.uart[0]);
  board.runUntil(0.5);
  let caught = null;
  try {
    // Between two instructions; the core is woken if it sleeps.
    inject(board);
    board.core.waiting = false;
    board.runUntil(1);
  } catch (e) {
    if (!(e instanceof FirmwareFault)) throw e;
    caught = e.message;
  }
  const ok = caught !== null && expected.test(caught);
  if (!ok) failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} the fault watch catches ${what}: ${caught ?? 'not caught'}`);
}
console.log(failed ? `fault watch self-test FAILED (${relative(process.cwd(), elf)})` : 'fault watch self-test passed');
process.exitCode = failed ? 1 : 0;
