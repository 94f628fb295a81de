// The gateway firmware on an emulated RP2040 for 32 s of emulated time,
// against a TMP102 that NACKs for a while and a host that acknowledges,
// then answers busy, then goes silent, then comes back; with commands,
// two of them duplicated. Prints the timeline and the checks; exits 1 if a
// check fails or the firmware faults.
//
//   node gateway.js [path/to/gateway.elf] [--seed N] [--defmt out.bin] [--decoder path/to/defmt-log]
//
// --seed (default 1) seeds the emulated ring oscillator, which seeds the
// firmware's jitter: the checks hold for any seed.
//
// With --decoder (tests/rp2040/defmt-log, built), the firmware's defmt log is
// decoded and merged into the timeline.
import { writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { Board, FirmwareFault } from './lib/board.js';
import { Tmp102, Host } from './lib/devices.js';
import { Checks, checkSensor, checkUplink, checkCommands, sensorPolls } from './lib/checks.js';
import { timeline } from './lib/timeline.js';
import { defaultElf, knownEmulatorWarnings } from './lib/common.js';
import { decodeDefmt } from './lib/defmt.js';

const args = process.argv.slice(2);
const opt = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : null);
const defmtOut = opt('--defmt');
const decoder = opt('--decoder');
const seed = Number(opt('--seed') ?? 1);
const elf = args.find((a, i) => !a.startsWith('--') && !['--defmt', '--decoder', '--seed'].includes(args[i - 1])) ?? defaultElf;

// ---- the script
const END = 32;
const SENSOR_DOWN = [6.5, 10];
const HOST = [[0, 'ack'], [13, 'busy'], [16, 'silent'], [20, 'ack']];
const BUSY_MS = 300;
const COMMANDS = [
  [1.5, 'C 9 period 5'], // out of range: status 2
  [1.9, 'C 9 period 5'], // duplicate: acknowledged again with status 2
  [2.35, 'C 7 period 100'], // readings at 10/s: the token bucket holds the uplink to 2/s
  [3.85, 'C 8 period 1000'],
  [5.5, 'C 7 period 100'], // duplicate: acknowledged again, must not set 100 ms again
];
const STATUS = { 7: 0, 8: 0, 9: 2 };
// The poll period the gateway should use at t (a command's line takes
// ~1.5 ms on the wire; the duplicate must change nothing).
const period = (t) => (t < 2.36 ? 1 : t < 3.86 ? 0.1 : 1);
const present = (t) => !(t >= SENSOR_DOWN[0] && t < SENSOR_DOWN[1]);
const hostMode = (t) => HOST.filter(([from]) => t >= from).pop()[1];
// A temperature that changes every second, so each reading is recognisable.
const celsius = (t) => 21.5 + 0.0625 * (Math.floor(t) % 16);

// ---- the run
const defmt = [];
const board = new Board(elf, { seed, onDefmt: (bytes) => defmt.push(bytes) });
const sensor = new Tmp102(board, board.mcu.i2c[0], { present, celsius });
const host = new Host(board, board.mcu.uart[0], { mode: hostMode, busyMs: BUSY_MS });
const notes = [
  { t: SENSOR_DOWN[0], text: 'sensor stops answering (NACKs its address)' },
  { t: SENSOR_DOWN[1], text: 'sensor answers again' },
  ...HOST.slice(1).map(([t, m]) => ({ t, text: { ack: 'host acknowledges again', busy: `host answers busy (B <seq> ${BUSY_MS}) to each frame's first attempt`, silent: 'host stops answering' }[m] })),
];
for (const [t, line] of COMMANDS) board.at(t, () => host.send(line));

const wall = Date.now();
let fault = null;
try {
  board.runUntil(END);
} catch (e) {
  if (!(e instanceof FirmwareFault)) throw e;
  fault = e.message;
}
const wallMs = Date.now() - wall;
if (defmtOut) writeFileSync(defmtOut, Buffer.concat(defmt));

console.log(`gateway on rp2040js: ${END} s emulated in ${(wallMs / 1000).toFixed(2)} s of wall time (${relative(process.cwd(), elf)})`);
console.log('');
const defmtLines = decoder ? decodeDefmt(decoder, elf, Buffer.concat(defmt)) : [];
for (const line of timeline(sensor, host, notes, { defmtLines })) console.log(line);
console.log('');

// ---- the checks
const checks = new Checks();
checks.expect('the firmware never panics or faults (panic handler, HardFault, DefaultHandler, UDF/BKPT)', fault ? [fault] : [],
  `ran ${board.seconds.toFixed(3)} s`);
checks.expect('the defmt log lost nothing (the RTT buffer, drained each emulated ms, never came near full)',
  board.rttOverflowRisk ? [`${board.rttMaxFill} of ${board.rttSize} bytes waiting at a drain`] : [],
  `at most ${board.rttMaxFill} of ${board.rttSize} bytes waiting, ${board.defmtBytes} bytes in all`);
const warnings = [...board.emulatorWarnings.keys()].filter((w) => !knownEmulatorWarnings.some((k) => k.test(w)));
checks.expect('the firmware touches no register the emulator lacks (beyond the known boot-time ones)', warnings);
const s = checkSensor(checks, sensor, host, { period, present, end: END });
const u = checkUplink(checks, host, { busyMs: BUSY_MS });
checkCommands(checks, host, { expectedStatus: (id) => STATUS[id], exact: true });

// What this script must have shown, beyond the invariants.
const polls = sensorPolls(sensor);
const afterDup = polls.filter((p) => p.t > COMMANDS[4][0] && p.t < SENSOR_DOWN[0]);
const fast = polls.filter((p, i) => i > 0 && p.t > COMMANDS[4][0] && p.t - polls[i - 1].end < 0.9);
checks.expect('the duplicated `C 7 period 100` is not run again (polls stay 1 s apart after it)',
  [...fast.map((p) => `poll at ${p.t.toFixed(3)} s less than 0.9 s after the previous one`),
    ...(afterDup.length < 1 ? ['no poll between the duplicate and the sensor outage to judge by'] : [])],
  `${polls.filter((p) => p.t > COMMANDS[4][0]).length} polls after it`);
const outage = s.outages[0];
const downFrames = host.frames.filter((f) => f.kind === 'D');
// The D frame waits behind what is already in the outbox (4 frames at the
// bucket's 2/s): 2.5 s at most.
checks.expect('the outage is seen: marked down once, D <seq> sensor sent within 2.5 s, readings back after the probe',
  [
    ...(s.outages.length !== 1 ? [`${s.outages.length} outages, expected 1`] : []),
    ...(outage && !(outage.at >= SENSOR_DOWN[0] && outage.at < SENSOR_DOWN[0] + 1.1) ? [`marked down at ${outage.at} s`] : []),
    ...(outage && (outage.back === null || outage.back > SENSOR_DOWN[1] + 5 + 1.1) ? [`back at ${outage?.back}`] : []),
    ...(downFrames.length === 0 || !outage || downFrames[0].t > outage.at + 2.5 ? ['no D frame within 2.5 s of the outage'] : []),
    ...(host.frames.some((f) => f.kind === 'R' && outage?.back && f.t > outage.back) ? [] : ['no reading after the sensor came back']),
  ]);
const open = u.opens[0];
const flowing = u.tx.filter((f) => f.ok && f.kind === 'R' && f.t > END - 3);
checks.expect('the host goes silent: the uplink breaker opens once, then closes after the host is back, frames flow again',
  [
    ...(u.opens.length !== 1 ? [`${u.opens.length} openings, expected 1`] : []),
    ...(open && !(open.at >= HOST[2][0] && open.at < HOST[3][0]) ? [`opened at ${open.at} s, not while the host was silent`] : []),
    ...(open && (open.closed === null || open.closed < HOST[3][0]) ? ['not closed after the host came back'] : []),
    ...(flowing.length < 2 ? [`${flowing.length} readings acknowledged in the last 3 s`] : []),
  ]);
const busyReplies = host.frames.filter((f) => f.reply?.startsWith('B')).length;
checks.expect('the busy host was seen (B replies sent)', busyReplies > 0 ? [] : ['no B reply'], `${busyReplies} B replies`);

console.log(`stack high-water mark: ${board.stackHighWater()} bytes of ${board.stackSize}; defmt log: ${board.defmtBytes} bytes drained from RTT${defmtOut ? ` into ${defmtOut}` : ''}`);
console.log('');
process.exitCode = checks.report() ? 1 : 0;
