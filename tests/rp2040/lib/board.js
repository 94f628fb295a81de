// An emulated Raspberry Pi Pico (rp2040js, pinned) running a firmware ELF
// file: loading without the boot ROM, the emulator fixes embassy-rp needs,
// the run loop that skips idle time, the defmt-rtt drain, the fault watch and
// the stack paint. See README.md ("How the firmware is started" and
// "Emulator fixes") for the why of each piece.
import { RP2040, ConsoleLogger, LogLevel } from 'rp2040js';
import { readElf } from './elf.js';

const NS_PER_CYCLE = 8; // 125 MHz, the clock embassy-rp configures
const FLASH_BASE = 0x10000000;
const RAM_BASE = 0x20000000;
// cortex-m-rt puts the vector table right after the 256-byte second-stage
// boot loader (memory.x: FLASH at 0x10000100).
const VECTOR_TABLE = 0x10000100;
const PAINT = 0x5afe57ac; // the stack paint word

// PL011 registers rp2040js 1.4.1 does not implement.
const UARTIFLS = 0x34;
const UARTDMACR = 0x48;
const UARTRIS_TX = 1 << 5;
// DW_apb_i2c interrupt mask.
const IC_INTR_MASK = 0x30;
// ROSC RANDOMBIT (rp2040js leaves the ring oscillator unimplemented).
const ROSC_RANDOMBIT = 0x1c;

/** Thrown out of the run loop when the firmware panics or faults. */
export class FirmwareFault extends Error {}

export class Board {
  /**
   * @param {string} elfPath the firmware (release ELF, with symbols)
   * @param {{ seed?: number, onDefmt?: (bytes: Uint8Array) => void }} options
   *   seed: drives the emulated ring oscillator's random bit (and so the
   *   firmware's jitter and hash seeds); onDefmt: receives the raw defmt
   *   stream drained from the RTT up-buffer.
   */
  constructor(elfPath, { seed = 1, onDefmt = () => {} } = {}) {
    const { segments, symbols } = readElf(elfPath);
    this.symbols = symbols;
    this.mcu = new RP2040();
    this.clock = this.mcu.clock;
    this.core = this.mcu.core;
    this.onDefmt = onDefmt;
    this.emulatorWarnings = new Map(); // message -> count
    this.fault = null;
    this.sevCount = 0;
    this.#installLogger();
    this.#fixUart(this.mcu.uart[0]);
    this.#fixUart(this.mcu.uart[1]);
    this.#fixI2c(this.mcu.i2c[0]);
    this.#fixI2c(this.mcu.i2c[1]);
    this.#randomRosc(seed);

    // Load like a flasher: each load segment at its physical (load) address.
    // .data's load address is in flash; the firmware's reset handler copies
    // it to RAM itself.
    for (const { paddr, data } of segments) {
      if (paddr >= FLASH_BASE && paddr + data.length <= FLASH_BASE + this.mcu.flash.length) {
        this.mcu.flash.set(data, paddr - FLASH_BASE);
      } else {
        throw new Error(`load segment at 0x${paddr.toString(16)} is not in flash`);
      }
    }
    // No boot ROM: start where boot2 would jump, from the firmware's own
    // vector table (boot2 only sets up the QSPI flash for XIP, which the
    // emulator maps directly).
    this.core.VTOR = VECTOR_TABLE;
    this.core.SP = this.mcu.readUint32(VECTOR_TABLE);
    this.core.PC = this.mcu.readUint32(VECTOR_TABLE + 4) & ~1;

    this.stackTop = this.core.SP;
    this.stackBottom = this.#symbol('_stack_end') ?? this.#symbol('__euninit');
    this.#paint(this.stackBottom, this.stackTop);

    // Where a panic or a fault would go.
    const fn = (name) => {
      const s = this.#symbol(name);
      return s === undefined ? undefined : s & ~1;
    };
    this.faultAt = new Map();
    const watch = (addr, what) => addr !== undefined && this.faultAt.set(addr, what);
    watch(this.mcu.readUint32(VECTOR_TABLE + 3 * 4) & ~1, 'HardFault (vector 3)');
    watch(fn('DefaultHandler'), 'DefaultHandler (an unexpected interrupt)');
    for (const [name, { value }] of symbols) {
      if (name.includes('rust_begin_unwind')) watch(value & ~1, 'the panic handler (rust_begin_unwind)');
    }
    watch(fn('_defmt_panic'), 'defmt::panic! (_defmt_panic)');
    // An exception's entry and its handler's first instruction happen in
    // one emulator step, so the PC alone would miss a handler entered that
    // way: exception entries are watched too (vector 3 is HardFault; a
    // handler at DefaultHandler is an exception or interrupt the firmware
    // never bound).
    const defaultHandler = fn('DefaultHandler');
    const exceptionEntry = this.core.exceptionEntry.bind(this.core);
    this.core.exceptionEntry = (n) => {
      exceptionEntry(n);
      const at = `at ${this.seconds.toFixed(6)} s`;
      if (n === 3) this.fault ??= `HardFault (exception 3) ${at}`;
      else if ((this.core.PC & ~1) === defaultHandler) this.fault ??= `exception ${n} went to DefaultHandler (not bound) ${at}`;
    };
    // UDF/BKPT: panic-probe ends in `udf`, which rp2040js reports here
    // instead of raising HardFault.
    this.mcu.onBreak = (code) => {
      this.fault ??= `breakpoint/undefined instruction (code ${code}) at 0x${this.core.PC.toString(16)}`;
    };
    this.rtt = this.#symbol('_SEGGER_RTT');
    if (this.rtt === undefined) throw new Error('no _SEGGER_RTT symbol: is defmt-rtt linked?');
    this.defmtBytes = 0;
    /** The most bytes found waiting in the RTT buffer at a drain, and its size. */
    this.rttMaxFill = 0;
    this.rttSize = 0;
  }

  /**
   * Whether defmt-rtt may have dropped output: its buffer was ever found
   * nearly full (it drops a whole frame that does not fit).
   */
  get rttOverflowRisk() {
    return this.rttSize > 0 && this.rttMaxFill > this.rttSize - 128;
  }

  #symbol(name) {
    return this.symbols.get(name)?.value;
  }

  /** Emulated time in seconds since reset. */
  get seconds() {
    return this.clock.nanos / 1e9;
  }

  /** Call `fn` at emulated time `seconds` (an alarm: idle skipping stops there). */
  at(seconds, fn) {
    const alarm = this.clock.createAlarm(fn);
    alarm.schedule(Math.max(0, seconds * 1e9 - this.clock.nanos));
    return alarm;
  }

  /** Call `fn` after `seconds` of emulated time. */
  after(seconds, fn) {
    return this.at(this.seconds + seconds, fn);
  }

  /**
   * Run the firmware until emulated time `seconds`. While the core sleeps
   * (WFI, or WFE with no event pending) time jumps to the next alarm: a
   * TIMER alarm, a UART byte time, or a scripted device action.
   */
  runUntil(seconds) {
    const end = seconds * 1e9;
    const { core, clock, faultAt } = this;
    let drainAt = clock.nanos;
    while (clock.nanos < end) {
      if (core.waiting) {
        const next = clock.nextAlarm ? clock.nextAlarm.nanos : end;
        clock.tick(Math.max(0, Math.min(next, end) - clock.nanos));
      } else {
        // The instruction about to run: reached by a branch, a call or a
        // return (exception entries are watched in exceptionEntry).
        const what = faultAt.get(core.PC & ~1);
        if (what !== undefined) this.fault ??= `${what} entered at ${this.seconds.toFixed(6)} s`;
        const cycles = core.executeInstruction();
        clock.tick(cycles * NS_PER_CYCLE);
      }
      if (this.fault) {
        this.drainRtt();
        throw new FirmwareFault(`firmware fault: ${this.fault}`);
      }
      if (clock.nanos >= drainAt) {
        this.drainRtt();
        drainAt = clock.nanos + 1e6; // every emulated millisecond at most
      }
    }
    this.drainRtt();
  }

  /**
   * Copy what the firmware wrote to RTT up-buffer 0 (defmt) and advance the
   * buffer's read offset, as a debug probe does: defmt-rtt drops output once
   * the buffer is full otherwise.
   */
  drainRtt() {
    const m = this.mcu;
    const cb = this.rtt;
    // The control block is filled in by the first log call; before that its
    // id is not there yet.
    if (m.readUint32(cb) !== 0x47474553 /* "SEGG" */) return;
    const up = cb + 16 + 8; // id[16], max up/down buffer counts
    const buf = m.readUint32(up + 4);
    const size = m.readUint32(up + 8);
    const write = m.readUint32(up + 12);
    let read = m.readUint32(up + 16);
    if (size === 0 || write === read || write >= size || read >= size) return;
    this.rttSize = size;
    this.rttMaxFill = Math.max(this.rttMaxFill, (write - read + size) % size);
    const chunks = [];
    while (read !== write) {
      const end = write > read ? write : size;
      chunks.push(m.sram.slice(buf - RAM_BASE + read, buf - RAM_BASE + end));
      read = end === size ? 0 : end;
    }
    m.writeUint32(up + 16, read);
    for (const c of chunks) {
      this.defmtBytes += c.length;
      this.onDefmt(c);
    }
  }

  #paint(from, to) {
    const m = this.mcu;
    for (let a = (from + 3) & ~3; a + 4 <= to; a += 4) m.sramView.setUint32(a - RAM_BASE, PAINT, true);
  }

  /**
   * The stack's high-water mark since it was last painted: bytes between
   * the top of the stack and the deepest word that no longer holds the
   * paint.
   */
  stackHighWater() {
    const m = this.mcu;
    let a = (this.stackBottom + 3) & ~3;
    while (a < this.stackTop && m.sramView.getUint32(a - RAM_BASE, true) === PAINT) a += 4;
    return this.stackTop - a;
  }

  /**
   * Paint the free part of the stack again (everything below the current
   * stack pointer, which nothing uses while the core is stopped between
   * instructions), so the next high-water mark measures from now on.
   */
  repaintStack() {
    this.#paint(this.stackBottom, this.core.SP);
  }

  /** Bytes of stack the region can hold (top of RAM down to the end of .uninit). */
  get stackSize() {
    return this.stackTop - this.stackBottom;
  }

  #installLogger() {
    const board = this;
    const base = new ConsoleLogger(LogLevel.Error, true);
    this.mcu.logger = {
      debug() {},
      info(component, message) {
        // Fix 3: SEV must set the core's event register, so that the
        // following WFE returns at once. rp2040js 1.4.1 only logs it;
        // this log call is the one place SEV is seen.
        if (message === 'SEV') {
          board.sevCount++;
          board.core.eventRegistered = true;
        }
      },
      warn(component, message) {
        const key = `[${component}] ${message}`;
        board.emulatorWarnings.set(key, (board.emulatorWarnings.get(key) ?? 0) + 1);
      },
      error(component, message) {
        base.error(component, message); // logs and throws
      },
    };
  }

  /**
   * Fixes 1 and 2 on one PL011 instance (see README.md). Bytes written to
   * UARTDR still reach `uart.onByte` at once; what changes is when the TX
   * interrupt is raised: one character time (10 bits at the programmed baud
   * rate) after the last byte written, as the real FIFO drains.
   */
  #fixUart(uart) {
    const board = this;
    const plain = { [UARTIFLS]: 0x12, [UARTDMACR]: 0 }; // reset values
    const readUint32 = uart.readUint32.bind(uart);
    const writeUint32 = uart.writeUint32.bind(uart);
    uart.readUint32 = (offset) => (offset in plain ? plain[offset] : readUint32(offset));
    let txBusyUntil = 0;
    const txDone = board.clock.createAlarm(() => {
      uart.interruptStatus |= UARTRIS_TX;
      board.mcu.setInterrupt(uart.irq, !!(uart.interruptStatus & uart.interruptMask));
    });
    uart.writeUint32 = (offset, value) => {
      if (offset in plain) {
        plain[offset] = value & (offset === UARTIFLS ? 0x3f : 0x7);
        return;
      }
      if (offset === 0 /* UARTDR */) {
        const byteNanos = (10 * 1e9) / (uart.baudRate || 115200);
        txBusyUntil = Math.max(txBusyUntil, board.clock.nanos) + byteNanos;
        uart.interruptStatus &= ~UARTRIS_TX; // the FIFO is above its level again
        txDone.schedule(txBusyUntil - board.clock.nanos);
      }
      writeUint32(offset, value);
    };
    // The stock checkInterrupts raises TX on every call (its TX FIFO is a
    // TODO); keep everything else it does.
    uart.checkInterrupts = function () {
      board.mcu.setInterrupt(this.irq, !!(this.interruptStatus & this.interruptMask));
    };
  }

  /**
   * Fix 4: rp2040js 1.4.1 reads IC_INTR_MASK but ignores writes to it, so
   * an interrupt the driver enables would never fire. embassy-rp only waits
   * on the interrupt when a transfer is not already done, and the emulated
   * bus completes each command at once, so the firmware does not depend on
   * it today; it is kept right anyway.
   */
  #fixI2c(i2c) {
    const writeUint32 = i2c.writeUint32.bind(i2c);
    i2c.writeUint32 = (offset, value) => {
      if (offset !== IC_INTR_MASK) return writeUint32(offset, value);
      i2c.intEnable = value & 0x1fff;
      i2c.checkInterrupts();
    };
  }

  /**
   * rp2040js leaves the ring oscillator unimplemented (reads as all ones),
   * so embassy-rp's RoscRng would return 0xff bytes. Its RANDOMBIT register
   * is given a seeded pseudo-random bit instead: runs are reproducible from
   * the seed, and different seeds give the firmware different jitter.
   */
  #randomRosc(seed) {
    const rosc = this.mcu.peripherals[0x40060];
    let s = (seed >>> 0) || 1;
    const read = rosc.readUint32.bind(rosc);
    rosc.readUint32 = (offset) => {
      if (offset !== ROSC_RANDOMBIT) return read(offset);
      s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; // xorshift32
      return s & 1;
    };
  }
}
