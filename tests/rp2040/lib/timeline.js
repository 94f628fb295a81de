// A readable timeline of a run: what the sensor, the host and the script
// did, merged in time order.
import { sensorPolls } from './checks.js';

const pad = (t) => t.toFixed(3).padStart(8);

export function timeline(sensor, host, notes, { defmtLines = [] } = {}) {
  const events = [];
  for (const n of notes) events.push({ t: n.t, text: `## ${n.text}` });
  for (const p of sensorPolls(sensor)) {
    const n = p.attempts.length;
    if (p.ok && n === 1) {
      const read = sensor.reads.find((r) => r.t >= p.t);
      events.push({ t: p.t, text: `i2c   0x48 read ${read ? (read.centi / 100).toFixed(2) + ' degC' : ''}` });
    } else {
      const gaps = p.attempts.slice(1).map((a, i) => ((a.t - p.attempts[i].t) * 1e3).toFixed(1)).join(', ');
      events.push({
        t: p.t,
        text: `i2c   0x48 ${p.ok ? `read after ${n - 1} NACK(s)` : `NACK x${n}`}${gaps ? ` (retries after ${gaps} ms)` : ''}`,
      });
    }
  }
  const sentBefore = new Set();
  for (const f of host.frames) {
    const again = sentBefore.has(f.seq) ? ' (again)' : '';
    sentBefore.add(f.seq);
    const reply = f.reply === null ? 'no reply' : `<- ${f.reply}`;
    events.push({ t: f.t, text: `uart  -> ${f.line.padEnd(16)}${again.padEnd(9)}${reply}` });
  }
  for (const s of host.sent) events.push({ t: s.t, text: `uart  <- ${s.line}` });
  for (const d of defmtLines) events.push({ t: d.t, text: `log   ${d.level.padEnd(5)} ${d.text}` });
  events.sort((a, b) => a.t - b.t);
  return events.map((e) => `${pad(e.t)}  ${e.text}`);
}
