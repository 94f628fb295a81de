// The devices around the gateway, played by the harness: a TMP102-style
// temperature sensor on I2C0 and the uplink host on UART0. Both record what
// they saw, with emulated timestamps, for the checks and the timeline.

/**
 * A TMP102 at `address`: a register pointer (written first), and a 12-bit
 * left-justified temperature in register 0, 1/16 degC per step. While
 * `present(t)` is false it NACKs its address, as a sensor that lost power
 * or its SDA wire does.
 */
export class Tmp102 {
  constructor(board, i2c, { address = 0x48, present = () => true, celsius = () => 21.5 } = {}) {
    this.board = board;
    this.address = address;
    this.present = present;
    this.celsius = celsius;
    /** Every address phase on the bus: { t, address, read, ack }. */
    this.addressed = [];
    /** Every completed read of the temperature: { t, centi } (what the firmware should report). */
    this.reads = [];
    let pointer = 0;
    let wrotePointer = false;
    let out = [];
    let readCount = 0;
    i2c.onStart = () => i2c.completeStart();
    i2c.onConnect = (addr, mode) => {
      const t = board.seconds;
      const ack = addr === this.address && this.present(t);
      this.addressed.push({ t, address: addr, read: mode === 1, ack });
      if (ack && mode === 1) {
        const raw = Math.round(this.celsius(t) * 16) & 0xfff;
        const reg = pointer === 0 ? (raw << 4) & 0xffff : 0;
        out = [reg >> 8, reg & 0xff];
        readCount = 0;
        this.pending = { t, centi: Math.trunc(((raw << 20) >> 20) * 625 / 100) };
      }
      wrotePointer = false;
      i2c.completeConnect(ack);
    };
    i2c.onWriteByte = (value) => {
      if (!wrotePointer) {
        pointer = value;
        wrotePointer = true;
      }
      i2c.completeWrite(true);
    };
    i2c.onReadByte = () => {
      const byte = out[readCount] ?? 0xff;
      readCount++;
      if (readCount === 2 && this.pending) {
        this.reads.push(this.pending);
        this.pending = undefined;
      }
      i2c.completeRead(byte);
    };
    i2c.onStop = () => i2c.completeStop();
  }
}

/**
 * The uplink host on a UART. `mode(t)` says how it answers each frame:
 * 'ack' (`A <seq>` after `replyDelay` s), 'busy' (`B <seq> <busyMs>` to a
 * frame's first transmission, `A <seq>` to the next), 'silent' (nothing).
 * `send(line)` writes a downlink line, one byte per character time.
 */
export class Host {
  constructor(board, uart, { mode = () => 'ack', busyMs = 300, replyDelay = 0.005, baud = 115200 } = {}) {
    this.board = board;
    this.uart = uart;
    this.mode = mode;
    this.busyMs = busyMs;
    this.replyDelay = replyDelay;
    this.byteTime = 10 / baud;
    /** Frames received: { t, line, kind, seq, fields, reply, replyAt }. */
    this.frames = [];
    /** Lines sent: { t, line }. */
    this.sent = [];
    this.busied = new Set();
    this.rxQueue = [];
    this.feeding = false;
    let line = '';
    let firstByte = 0;
    uart.onByte = (b) => {
      if (line === '') firstByte = board.seconds;
      if (b === 0x0a) {
        this.#frame(line, firstByte);
        line = '';
      } else {
        line += String.fromCharCode(b);
      }
    };
  }

  #frame(line, t) {
    const [kind, seqText, ...fields] = line.split(' ');
    const frame = { t, line, kind, seq: Number(seqText), fields, reply: null, replyAt: null };
    this.frames.push(frame);
    const mode = this.mode(t);
    let reply = null;
    if (mode === 'ack') reply = `A ${frame.seq}`;
    else if (mode === 'busy') {
      if (this.busied.has(frame.seq)) reply = `A ${frame.seq}`;
      else {
        this.busied.add(frame.seq);
        reply = `B ${frame.seq} ${this.busyMs}`;
      }
    }
    if (reply !== null) {
      frame.reply = reply;
      frame.replyAt = t + this.replyDelay;
      this.board.at(frame.replyAt, () => this.send(reply, { quiet: true }));
    }
  }

  /** Send a line to the gateway (a `\n` is appended). */
  send(line, { quiet = false } = {}) {
    if (!quiet) this.sent.push({ t: this.board.seconds, line });
    for (const c of `${line}\n`) this.rxQueue.push(c.charCodeAt(0));
    if (!this.feeding) this.#feed();
  }

  #feed() {
    const b = this.rxQueue.shift();
    if (b === undefined) {
      this.feeding = false;
      return;
    }
    this.feeding = true;
    this.board.after(this.byteTime, () => {
      this.uart.feedByte(b);
      this.#feed();
    });
  }
}
