// The firmware's defmt log, decoded by tests/rp2040/defmt-log (the
// maintained defmt-decoder crate) when the caller has built it.
import { spawnSync } from 'node:child_process';

/**
 * Decode `bytes` (the raw stream drained from RTT) with the decoder binary
 * at `decoder`: [{ t, level, text }], t in seconds (the firmware's uptime
 * timestamps, which are the emulated time).
 */
export function decodeDefmt(decoder, elf, bytes) {
  const r = spawnSync(decoder, [elf], { input: bytes, maxBuffer: 256 * 1024 * 1024 });
  if (r.error) throw new Error(`cannot run the defmt decoder ${decoder}: ${r.error.message} (build it: cd tests/rp2040/defmt-log && cargo build --release)`);
  if (r.status !== 0) throw new Error(`the defmt decoder failed (exit ${r.status}): ${r.stderr.toString().trim()}`);
  return r.stdout
    .toString()
    .split('\n')
    .filter((l) => l.length)
    .map((l) => {
      const m = /^(\S+) (\S+)\s+(.*)$/.exec(l);
      return m ? { t: Number(m[1]), level: m[2], text: m[3] } : { t: NaN, level: '?', text: l };
    });
}
