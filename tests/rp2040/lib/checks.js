// What the gateway must do, judged from what the devices saw on the wires.
// The numbers mirror the configuration in examples-rp2040/src/bin/gateway.rs
// (change both together).

export const GATEWAY = {
  sensorAddress: 0x48,
  // SENSOR_SCHEDULE: 2, 4, 8 ms apart, equal jitter (each wait in [d/2, d]), 4 attempts.
  sensorDelaysMs: [2, 4, 8],
  sensorMaxAttempts: 4,
  // SENSOR_BREAKER: 3 failed attempts in a row; open 5 s growing x2 to 60 s.
  sensorThreshold: 3,
  sensorOpen: { initial: 5, factor: 2, max: 60 },
  // UPLINK_SCHEDULE: 4 attempts; ACK_TIMEOUT 300 ms.
  uplinkMaxAttempts: 4,
  ackTimeout: 0.3,
  // UPLINK_BREAKER: 5 failed attempts in a row; open 10 s growing x2 to 120 s.
  uplinkThreshold: 5,
  uplinkOpen: { initial: 10, factor: 2, max: 120 },
  // UPLINK_QUOTA: 2 frames/s, bursts of 5 (GCRA: emission interval 0.5 s).
  quotaInterval: 0.5,
  quotaBurst: 5,
};

const MS = 1e-3;
const fmt = (s) => s.toFixed(3);

/** Collects named pass/fail results; `report()` prints them. */
export class Checks {
  constructor() {
    this.results = [];
  }

  /** Record a check: `failures` is a list of what went wrong (empty: pass). */
  expect(name, failures, summary = '') {
    this.results.push({ name, failures, summary });
  }

  get failed() {
    return this.results.filter((r) => r.failures.length > 0);
  }

  report(print = console.log) {
    for (const { name, failures, summary } of this.results) {
      print(`${failures.length ? 'FAIL' : 'ok  '} ${name}${summary ? `: ${summary}` : ''}`);
      for (const f of failures.slice(0, 8)) print(`       ${f}`);
      if (failures.length > 8) print(`       ... ${failures.length - 8} more`);
    }
    const n = this.failed.length;
    print(n ? `${n} of ${this.results.length} checks FAILED` : `all ${this.results.length} checks passed`);
    return n;
  }
}

/**
 * The sensor's bus traffic as polls: each poll is a cluster of attempts
 * (an attempt starts with an address phase in write mode, the register
 * pointer) less than 50 ms apart; an attempt succeeds when the read that
 * follows is acknowledged.
 */
export function sensorPolls(sensor) {
  const attempts = [];
  for (const a of sensor.addressed) {
    if (a.address !== GATEWAY.sensorAddress) continue;
    if (!a.read) attempts.push({ t: a.t, ok: false });
    else if (attempts.length && a.ack) attempts[attempts.length - 1].ok = true;
  }
  const polls = [];
  for (const a of attempts) {
    const last = polls[polls.length - 1];
    if (last && a.t - last.attempts[last.attempts.length - 1].t < 0.05) last.attempts.push(a);
    else polls.push({ t: a.t, attempts: [a] });
  }
  for (const p of polls) {
    p.end = p.attempts[p.attempts.length - 1].t;
    p.ok = p.attempts[p.attempts.length - 1].ok;
  }
  return polls;
}

/**
 * The uplink as the host saw it: transmissions in order, each with the
 * outcome the gateway's breaker records for it (`A`: success; `B` or no
 * reply within the ack timeout: failure) and when.
 */
export function transmissions(host) {
  return host.frames.map((f) => {
    const ok = f.reply !== null && f.reply.startsWith('A');
    const failedAt = f.reply !== null ? f.replyAt : f.t + GATEWAY.ackTimeout;
    return { ...f, ok, outcomeAt: ok ? f.replyAt : failedAt };
  });
}

function grow({ initial, factor, max }, trips) {
  return Math.min(max, initial * factor ** trips);
}

/**
 * The sensor checks.
 * - `period(t)`: the poll period in seconds the gateway should be using at t;
 * - `present(t)`: whether the sensor answers at t.
 */
export function checkSensor(checks, sensor, host, { period, present, end }) {
  const polls = sensorPolls(sensor);
  const g = GATEWAY;

  // Cadence: after a poll that succeeded, the next one comes one period
  // later; never sooner than a period after any poll.
  const cadence = [];
  let gaps = 0;
  for (let i = 1; i < polls.length; i++) {
    const p = polls[i - 1], q = polls[i];
    const gap = q.t - p.end;
    const want = period(p.end);
    if (gap < want - MS) cadence.push(`poll at ${fmt(q.t)} s only ${fmt(gap)} s after the one at ${fmt(p.end)} s (period ${want} s)`);
    else if (p.ok && gap > want + 5 * MS) cadence.push(`poll at ${fmt(q.t)} s ${fmt(gap)} s after a good read at ${fmt(p.end)} s (period ${want} s)`);
    else if (p.ok) gaps++;
  }
  checks.expect('sensor polled at the configured period while it is up', cadence, `${gaps} intervals of the period (+0..5 ms), ${polls.length} polls`);

  // Retries with backoff inside a poll.
  const backoff = [];
  let retried = 0;
  for (const p of polls) {
    if (p.attempts.length > g.sensorMaxAttempts) backoff.push(`poll at ${fmt(p.t)} s: ${p.attempts.length} attempts`);
    for (let k = 1; k < p.attempts.length; k++) {
      retried++;
      const gap = (p.attempts[k].t - p.attempts[k - 1].t) / MS;
      const d = g.sensorDelaysMs[Math.min(k - 1, g.sensorDelaysMs.length - 1)];
      if (gap < d / 2 - 0.05 || gap > d + 1) backoff.push(`poll at ${fmt(p.t)} s: retry ${k} after ${gap.toFixed(2)} ms, not in [${d / 2}, ${d}] ms`);
    }
  }
  checks.expect('failed sensor reads are retried with backoff (2, 4, 8 ms, equal jitter), 4 attempts at most', backoff, `${retried} retries`);

  // The breaker, judged from the bus: after `threshold` failed attempts in
  // a row, no bus traffic for the open duration, then one probe; a failed
  // probe opens it for longer.
  const breaker = [];
  const outages = [];
  let inRow = 0, trips = 0, openUntil = null, openedAt = null;
  for (const p of polls) {
    if (openUntil !== null) {
      if (p.t < openUntil - MS) breaker.push(`bus touched at ${fmt(p.t)} s while the sensor is marked down (until ${fmt(openUntil)} s)`);
      else if (p.t > openUntil + period(openUntil) + 10 * MS) breaker.push(`probe at ${fmt(p.t)} s, more than a period after the open time ended (${fmt(openUntil)} s)`);
      if (!p.ok && p.attempts.length !== 1) breaker.push(`probe at ${fmt(p.t)} s made ${p.attempts.length} attempts, not 1`);
      if (p.ok) {
        outages[outages.length - 1].back = p.t;
        openUntil = null; inRow = 0; trips = 0;
      } else {
        trips++;
        openUntil = p.end + grow(g.sensorOpen, trips);
        outages[outages.length - 1].probes.push(p.t);
      }
      continue;
    }
    for (const a of p.attempts) {
      inRow = a.ok ? 0 : inRow + 1;
      if (inRow === g.sensorThreshold) {
        openedAt = a.t;
        openUntil = a.t + grow(g.sensorOpen, 0);
        outages.push({ at: openedAt, probes: [], back: null });
        if (a !== p.attempts[p.attempts.length - 1]) breaker.push(`poll at ${fmt(p.t)} s kept trying after the breaker opened`);
        break;
      }
    }
  }
  checks.expect('a dead sensor is marked down after 3 failed attempts, the bus is left alone while it is down, then probed (5 s, 10 s, ... 60 s)', breaker,
    outages.map((o) => `down ${fmt(o.at)} s, probes ${o.probes.map(fmt).join(', ') || '-'}, back ${o.back === null ? '-' : fmt(o.back) + ' s'}`).join('; '));

  // Readings resume when it is back: a good read after every outage whose
  // sensor came back early enough to be probed again.
  const resumed = [];
  for (const o of outages) {
    const lastProbe = o.probes.length ? o.probes[o.probes.length - 1] : o.at;
    const deadline = lastProbe + g.sensorOpen.max + 2;
    if (o.back === null && deadline < end && present(deadline - 1)) resumed.push(`sensor down at ${fmt(o.at)} s never read again`);
  }
  checks.expect('readings resume once the sensor is back', resumed);

  // Every reading on the uplink is one the sensor gave, in order.
  const values = [];
  const reads = sensor.reads;
  let r = 0;
  const readingFrames = host.frames.filter((f) => f.kind === 'R');
  const firstTx = new Map();
  for (const f of readingFrames) if (!firstTx.has(f.seq)) firstTx.set(f.seq, f);
  for (const f of firstTx.values()) {
    const centi = Number(f.fields[0]);
    while (r < reads.length && (reads[r].centi !== centi || reads[r].t > f.t)) r++;
    if (r === reads.length) {
      values.push(`R ${f.seq} ${centi} at ${fmt(f.t)} s matches no earlier sensor read (in order)`);
      r = 0;
    } else r++;
  }
  checks.expect('every reading sent is a value the sensor returned, in order', values, `${firstTx.size} readings, ${reads.length} reads`);

  // One `D <seq> sensor` per outage at most (it is dropped when the uplink is down).
  const downs = new Set(host.frames.filter((f) => f.kind === 'D').map((f) => f.seq));
  const dFailures = downs.size > outages.length ? [`${downs.size} D frames for ${outages.length} outages`] : [];
  checks.expect('the sensor is reported down (D <seq> sensor) at most once per outage', dFailures, `${downs.size} D frames, ${outages.length} outages`);
  return { polls, outages, downs };
}

/** The uplink checks: retries bounded, the breaker, the rate limit, busy replies honoured. */
export function checkUplink(checks, host, { busyMs }) {
  const g = GATEWAY;
  const tx = transmissions(host);

  const perSeq = new Map();
  for (const f of tx) perSeq.set(f.seq, [...(perSeq.get(f.seq) ?? []), f]);
  const attempts = [];
  for (const [seq, fs] of perSeq) if (fs.length > g.uplinkMaxAttempts) attempts.push(`frame ${seq} sent ${fs.length} times`);
  const retried = [...perSeq.values()].filter((fs) => fs.length > 1).length;
  checks.expect('a frame is sent 4 times at most (not retried forever)', attempts, `${perSeq.size} frames, ${retried} retried, ${tx.length} transmissions`);

  // `B <seq> <ms>`: the next attempt of that frame waits at least ms.
  const busy = [];
  let honoured = 0;
  for (const fs of perSeq.values()) {
    for (let i = 0; i + 1 < fs.length; i++) {
      if (!fs[i].reply?.startsWith('B')) continue;
      const wait = fs[i + 1].t - fs[i].replyAt;
      if (wait < busyMs * MS - MS) busy.push(`frame ${fs[i].seq} sent again ${fmt(wait)} s after B ${busyMs}`);
      else honoured++;
    }
  }
  checks.expect('a busy reply (B <seq> <ms>) delays the next attempt by at least ms', busy, `${honoured} busy replies honoured`);

  // The token bucket: new frames (first transmissions) in any window of W
  // seconds: at most burst + W / interval.
  const firsts = [...perSeq.values()].map((fs) => fs[0].t).sort((a, b) => a - b);
  const rate = [];
  let worst = -Infinity;
  for (let i = 0; i < firsts.length; i++) {
    for (let j = i; j < firsts.length && firsts[j] - firsts[i] < 30; j++) {
      const n = j - i + 1;
      const allowed = g.quotaBurst + Math.floor((firsts[j] - firsts[i]) / g.quotaInterval + 1e-6);
      worst = Math.max(worst, n - allowed);
      if (n > allowed) rate.push(`${n} frames in ${fmt(firsts[j] - firsts[i])} s from ${fmt(firsts[i])} s (at most ${allowed})`);
    }
  }
  checks.expect('frames on the wire never exceed the token bucket (2/s, bursts of 5)', rate, `closest approach: ${-worst} frame(s) below the limit`);

  // The breaker, judged from the wire: after 5 failed attempts in a row
  // nothing is sent for the open duration (10 s growing x2 to 120 s), then
  // one probe; a good probe closes it.
  const breaker = [];
  const opens = [];
  let inRow = 0, trips = 0, openUntil = null, lastFail = 0;
  for (const f of tx) {
    if (openUntil !== null) {
      if (f.t < openUntil - 5 * MS) {
        breaker.push(`${f.line} sent at ${fmt(f.t)} s while the uplink breaker is open (until ${fmt(openUntil)} s)`);
        continue;
      }
      if (f.ok) {
        opens[opens.length - 1].closed = f.t;
        openUntil = null; inRow = 0; trips = 0;
      } else {
        trips++;
        openUntil = f.outcomeAt + grow(g.uplinkOpen, trips);
        opens[opens.length - 1].probes.push(f.t);
      }
      continue;
    }
    inRow = f.ok ? 0 : inRow + 1;
    if (!f.ok) lastFail = f.outcomeAt;
    if (inRow === g.uplinkThreshold) {
      openUntil = lastFail + grow(g.uplinkOpen, 0);
      opens.push({ at: lastFail, probes: [], closed: null });
    }
  }
  checks.expect('the uplink breaker opens after 5 failed attempts in a row and sends nothing while open, then one probe', breaker,
    opens.map((o) => `open ${fmt(o.at)} s, failed probes ${o.probes.map(fmt).join(', ') || '-'}, closed ${o.closed === null ? '-' : fmt(o.closed) + ' s'}`).join('; '));
  return { tx, perSeq, opens };
}

/**
 * Commands: every `K <seq> <id> <status>` carries the status of the id's
 * first run (a duplicate is acknowledged again with its stored status), and
 * there are at most as many K frames per id as the id was sent.
 */
export function checkCommands(checks, host, { expectedStatus, exact }) {
  const sends = new Map();
  for (const s of host.sent) {
    const [kind, id] = s.line.split(' ');
    if (kind === 'C') sends.set(Number(id), (sends.get(Number(id)) ?? 0) + 1);
  }
  const acks = new Map();
  const seen = new Set();
  for (const f of host.frames) {
    if (f.kind !== 'K' || seen.has(f.seq)) continue; // a retransmission is not a new ack
    seen.add(f.seq);
    const [id, status] = f.fields.map(Number);
    acks.set(id, [...(acks.get(id) ?? []), { t: f.t, status }]);
  }
  const failures = [];
  let dups = 0;
  for (const [id, n] of sends) {
    const got = acks.get(id) ?? [];
    if (n > 1 && got.length > 1) dups++;
    if (got.length > n) failures.push(`command ${id}: sent ${n} times, acknowledged ${got.length} times`);
    if (exact && got.length !== n) failures.push(`command ${id}: sent ${n} times, acknowledged ${got.length} times (every send must be acknowledged)`);
    const want = expectedStatus(id);
    for (const a of got) {
      if (a.status !== want) failures.push(`command ${id}: K at ${fmt(a.t)} s with status ${a.status}, expected ${want}`);
    }
  }
  for (const id of acks.keys()) if (!sends.has(id)) failures.push(`K for command ${id}, never sent`);
  checks.expect('each command is acknowledged with its status; a duplicate id again with the stored status', failures,
    `${sends.size} ids, ${dups} acknowledged again as duplicates`);
  return { sends, acks };
}
