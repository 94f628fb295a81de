// The gateway firmware on an emulated RP2040 for one emulated hour with
// random sensor and host faults: the same invariants as gateway.js, plus
// the stack's high-water mark (painted by the harness), which must not be
// deeper in the last ten minutes than in the first ten.
//
//   node soak.js [path/to/gateway.elf] [--seed N] [--minutes M] [--timeline FILE]
//                [--defmt FILE] [--decoder path/to/defmt-log] [--log FILE]
//
// With --decoder (tests/rp2040/defmt-log, built), the firmware's defmt log
// is decoded (into --log FILE if given) and checked against the wires: no
// error, and as many breaker transitions logged as the wires showed.
import { writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { Board, FirmwareFault } from './lib/board.js';
import { Tmp102, Host } from './lib/devices.js';
import { Checks, checkSensor, checkUplink, checkCommands, transmissions } from './lib/checks.js';
import { timeline } from './lib/timeline.js';
import { defaultElf, knownEmulatorWarnings } from './lib/common.js';
import { decodeDefmt } from './lib/defmt.js';

const args = process.argv.slice(2);
const opt = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const valued = new Set(['--seed', '--minutes', '--timeline', '--defmt', '--decoder', '--log']);
const elf = args.find((a, i) => !a.startsWith('--') && !valued.has(args[i - 1])) ?? defaultElf;
const seed = Number(opt('--seed', process.env.SOAK_SEED ?? 18));
const END = Number(opt('--minutes', 60)) * 60;
const WINDOW = 600; // the first and the last ten minutes
if (END < 2 * WINDOW) throw new Error('--minutes must be at least 20');

// mulberry32: a small seeded generator, so a failing seed replays exactly.
let state = seed >>> 0;
const random = () => {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const between = (a, b) => a + (b - a) * random();

// ---- the faults. The first and the last ten minutes play the same fixed
// pattern (so the stack comparison sees the same kinds of trouble: short
// and long sensor outages, a busy host, a silent host long enough for
// failed probes, both at once); the minutes between are random.
const pattern = {
  sensorDown: [[60, 75], [200, 262], [480, 530]],
  host: [[120, 'silent'], [150, 'ack'], [170, 'busy'], [190, 'ack'], [300, 'silent'], [420, 'ack'], [490, 'silent'], [520, 'ack']],
};
const sensorDown = [];
const hostModes = [[0, 'ack']];
for (const base of [0, END - WINDOW]) {
  for (const [a, b] of pattern.sensorDown) sensorDown.push([base + a, base + b]);
}
for (const [t, m] of pattern.host) hostModes.push([t, m]);
for (let t = WINDOW; t < END - WINDOW - 60;) {
  const len = between(5, 90);
  if (random() < 0.35) sensorDown.push([t, Math.min(t + len, END - WINDOW - 30)]);
  t += len + between(10, 120);
}
for (let t = WINDOW; t < END - WINDOW - 60;) {
  const r = random();
  const mode = r < 0.55 ? 'ack' : r < 0.75 ? 'busy' : 'silent';
  hostModes.push([t, mode]);
  t += between(10, 150);
}
hostModes.push([END - WINDOW - 30, 'ack']);
for (const [t, m] of pattern.host) hostModes.push([END - WINDOW + t, m]);
hostModes.sort((a, b) => a[0] - b[0]);
sensorDown.sort((a, b) => a[0] - b[0]);

const present = (t) => !sensorDown.some(([a, b]) => t >= a && t < b);
const hostMode = (t) => {
  let m = 'ack';
  for (const [from, mode] of hostModes) if (t >= from) m = mode; else break;
  return m;
};
// A slow random walk between -10 and 40 degC (negative readings included).
const temps = [];
for (let s = 0, c = 21.5; s <= END + 1; s++) {
  c = Math.max(-10, Math.min(40, c + between(-0.6, 0.6)));
  temps.push(c);
}
const celsius = (t) => temps[Math.floor(t)];

// Commands every 15-60 s: ping, period 1000 (no change), an out-of-range
// period (status 2) or an unknown verb (status 1); 40 % are followed by a
// duplicate of the same id within 30 s (inside the 60 s done TTL).
const commands = [];
const status = new Map();
let id = 100;
for (let t = 5; t < END - 30; t += between(15, 60)) {
  id++;
  const r = random();
  const [line, st] = r < 0.4 ? [`C ${id} ping`, 0] : r < 0.7 ? [`C ${id} period 1000`, 0] : r < 0.85 ? [`C ${id} period 70000`, 2] : [`C ${id} blink`, 1];
  status.set(id, st);
  commands.push([t, line]);
  if (random() < 0.4) commands.push([t + between(1, 30), line]);
}

// ---- the run
const defmt = [];
const board = new Board(elf, { seed, onDefmt: (b) => defmt.push(b) });
const sensor = new Tmp102(board, board.mcu.i2c[0], { present, celsius });
const host = new Host(board, board.mcu.uart[0], { mode: hostMode, busyMs: 300 });
for (const [t, line] of commands) board.at(t, () => host.send(line));

const wall = Date.now();
let fault = null;
let hwmFirst = null;
let hwmBoot = null;
try {
  // Boot (embassy-rp's init, main spawning the tasks) is done well within
  // the first second; its stack is measured apart, then the stack is
  // painted again so both windows measure the running gateway.
  board.runUntil(1);
  hwmBoot = board.stackHighWater();
  board.repaintStack();
  board.runUntil(WINDOW);
  hwmFirst = board.stackHighWater();
  board.runUntil(END - WINDOW);
  board.repaintStack();
  board.runUntil(END);
} catch (e) {
  if (!(e instanceof FirmwareFault)) throw e;
  fault = e.message;
}
const hwmLast = board.stackHighWater();
const wallS = (Date.now() - wall) / 1000;
if (opt('--defmt')) writeFileSync(opt('--defmt'), Buffer.concat(defmt));

const notes = [
  ...sensorDown.flatMap(([a, b]) => [{ t: a, text: 'sensor stops answering' }, { t: b, text: 'sensor answers again' }]),
  ...hostModes.map(([t, m]) => ({ t, text: `host: ${m}` })),
];
if (opt('--timeline')) writeFileSync(opt('--timeline'), timeline(sensor, host, notes).join('\n') + '\n');

const downTime = sensorDown.reduce((s, [a, b]) => s + b - a, 0);
const hostTime = (mode) => hostModes.reduce((s, [t, m], i) => s + (m === mode ? (hostModes[i + 1]?.[0] ?? END) - t : 0), 0);
console.log(`gateway soak on rp2040js: ${END} s emulated in ${wallS.toFixed(1)} s of wall time, seed ${seed} (${relative(process.cwd(), elf)})`);
console.log(`faults: sensor down ${sensorDown.length} times (${downTime.toFixed(0)} s), host busy ${hostTime('busy').toFixed(0)} s, silent ${hostTime('silent').toFixed(0)} s; ${commands.length} commands sent`);

const checks = new Checks();
checks.expect('the firmware never panics or faults (panic handler, HardFault, DefaultHandler, UDF/BKPT)', fault ? [fault] : [], `ran ${board.seconds.toFixed(3)} s`);
checks.expect('the defmt log lost nothing (the RTT buffer, drained each emulated ms, never came near full)',
  board.rttOverflowRisk ? [`${board.rttMaxFill} of ${board.rttSize} bytes waiting at a drain`] : [],
  `at most ${board.rttMaxFill} of ${board.rttSize} bytes waiting, ${board.defmtBytes} bytes in all`);
const warnings = [...board.emulatorWarnings.keys()].filter((w) => !knownEmulatorWarnings.some((k) => k.test(w)));
checks.expect('the firmware touches no register the emulator lacks (beyond the known boot-time ones)', warnings);
const s = checkSensor(checks, sensor, host, { period: () => 1, present, end: END });
const u = checkUplink(checks, host, { busyMs: 300 });
checkCommands(checks, host, { expectedStatus: (i) => status.get(i), exact: false });

// After every stretch of acknowledgements long enough to outlast the
// longest open time (120 s) plus a probe, frames are acknowledged in it.
const tx = transmissions(host);
const flow = [];
for (let i = 0; i < hostModes.length; i++) {
  const [from, mode] = hostModes[i];
  const to = hostModes[i + 1]?.[0] ?? END;
  if (mode !== 'ack' || to - from < 130) continue;
  if (!tx.some((f) => f.ok && f.t >= from && f.t < to)) flow.push(`host acknowledging from ${from.toFixed(1)} s to ${to.toFixed(1)} s, no frame acknowledged`);
}
checks.expect('frames flow again after every host outage', flow, `${u.opens.length} uplink breaker openings, ${u.opens.reduce((n, o) => n + o.probes.length, 0)} failed probes`);
const stack = hwmLast > hwmFirst ? [`deepest stack ${hwmLast} bytes in the last ten minutes, ${hwmFirst} in the first`] : [];
if (Math.max(hwmBoot, hwmFirst) >= board.stackSize - 64) stack.push(`the stack reached the end of RAM's free space (${Math.max(hwmBoot, hwmFirst)} of ${board.stackSize} bytes)`);
checks.expect('the stack high-water mark does not grow between the first and the last ten minutes', stack,
  `boot ${hwmBoot} bytes; running: first ten minutes ${hwmFirst} bytes, last ten minutes ${hwmLast} bytes (of ${board.stackSize})`);
const failedProbes = s.outages.reduce((n, o) => n + o.probes.length, 0);
checks.expect('the soak exercised what it claims (sensor outages with failed probes, uplink openings with failed probes, busy replies, duplicates)',
  [
    ...(s.outages.length < 4 ? [`${s.outages.length} sensor outages`] : []),
    ...(failedProbes < 2 ? [`${failedProbes} failed sensor probes`] : []),
    ...(u.opens.length < 3 ? [`${u.opens.length} uplink openings`] : []),
    ...(u.opens.every((o) => o.probes.length === 0) ? ['no failed uplink probe'] : []),
    ...(!host.frames.some((f) => f.reply?.startsWith('B')) ? ['no busy reply'] : []),
  ],
  `${s.outages.length} sensor outages (${failedProbes} failed probes), ${u.opens.length} uplink openings, ${s.polls.length} polls, ${u.perSeq.size} frames`);
if (opt('--decoder')) {
  const log = decodeDefmt(opt('--decoder'), elf, Buffer.concat(defmt));
  if (opt('--log')) writeFileSync(opt('--log'), log.map((l) => `${l.t.toFixed(6)} ${l.level.padEnd(5)} ${l.text}`).join('\n') + '\n');
  const count = (re) => log.filter((l) => re.test(l.text)).length;
  const sensorProbesFailed = s.outages.reduce((n, o) => n + o.probes.length, 0);
  const uplinkProbesFailed = u.opens.reduce((n, o) => n + o.probes.length, 0);
  const pairs = [
    ['sensor marked down (Closed -> Open)', /^sensor 0x48 Closed -> Open/, s.outages.length],
    ['sensor probe failed (HalfOpen -> Open)', /^sensor 0x48 HalfOpen -> Open/, sensorProbesFailed],
    ['sensor back (HalfOpen -> Closed)', /^sensor 0x48 HalfOpen -> Closed/, s.outages.filter((o) => o.back !== null).length],
    ['uplink opened (Closed -> Open)', /^uplink Closed -> Open/, u.opens.length],
    ['uplink probe failed (HalfOpen -> Open)', /^uplink HalfOpen -> Open/, uplinkProbesFailed],
    ['uplink closed (HalfOpen -> Closed)', /^uplink HalfOpen -> Closed/, u.opens.filter((o) => o.closed !== null).length],
  ];
  const mismatches = pairs.filter(([, re, n]) => count(re) !== n).map(([what, re, n]) => `${what}: ${count(re)} in the log, ${n} seen on the wires`);
  const errors = log.filter((l) => l.level === 'ERROR' || /panicked/.test(l.text)).map((l) => `${l.t} ${l.level} ${l.text}`);
  checks.expect('the decoded defmt log has no error and logs every breaker transition the wires showed', [...errors, ...mismatches],
    `${log.length} log lines; ${pairs.map(([what, re]) => `${count(re)} ${what}`).join(', ')}`);
}
console.log(`defmt log: ${board.defmtBytes} bytes drained from RTT${opt('--defmt') ? ` into ${opt('--defmt')}` : ''}`);
console.log('');
process.exitCode = checks.report() ? 1 : 0;
