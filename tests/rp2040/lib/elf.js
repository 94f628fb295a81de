// The two things the harness needs from the firmware's ELF file: its load
// segments (what a flasher writes, at their physical addresses) and its
// symbol table (where the RTT control block, the fault handlers and the
// stack are). ELF32 little-endian only, which is what thumbv6m-none-eabi
// produces; layouts from the System V ABI (ELF32 header, Elf32_Phdr,
// Elf32_Shdr, Elf32_Sym).
import { readFileSync } from 'node:fs';

const PT_LOAD = 1;
const SHT_SYMTAB = 2;

export function readElf(path) {
  const bytes = readFileSync(path);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = bytes.subarray(0, 4).toString('latin1');
  if (magic !== '\x7fELF' || bytes[4] !== 1 || bytes[5] !== 1) {
    throw new Error(`${path}: not a 32-bit little-endian ELF file (build the firmware with ` +
      '`cd examples-rp2040 && cargo build --release --bin gateway`)');
  }
  if (view.getUint16(18, true) !== 40) {
    throw new Error(`${path}: not an ARM ELF file (machine ${view.getUint16(18, true)})`);
  }
  const u16 = (o) => view.getUint16(o, true);
  const u32 = (o) => view.getUint32(o, true);

  const segments = [];
  const phoff = u32(28), phentsize = u16(42), phnum = u16(44);
  for (let i = 0; i < phnum; i++) {
    const p = phoff + i * phentsize;
    if (u32(p) !== PT_LOAD || u32(p + 16) === 0) continue; // p_filesz == 0: .bss, .uninit
    const offset = u32(p + 4), paddr = u32(p + 12), filesz = u32(p + 16);
    segments.push({ paddr, data: bytes.subarray(offset, offset + filesz) });
  }

  const symbols = new Map();
  const shoff = u32(32), shentsize = u16(46), shnum = u16(48);
  for (let i = 0; i < shnum; i++) {
    const s = shoff + i * shentsize;
    if (u32(s + 4) !== SHT_SYMTAB) continue;
    const symOffset = u32(s + 16), symSize = u32(s + 20), strIndex = u32(s + 24);
    const entSize = u32(s + 36) || 16;
    const strOffset = u32(shoff + strIndex * shentsize + 16);
    for (let e = symOffset; e + entSize <= symOffset + symSize; e += entSize) {
      const nameOffset = u32(e);
      if (nameOffset === 0) continue;
      let end = strOffset + nameOffset;
      while (bytes[end] !== 0) end++;
      const name = bytes.subarray(strOffset + nameOffset, end).toString('latin1');
      symbols.set(name, { value: u32(e + 4), size: u32(e + 8) });
    }
  }
  return { segments, symbols };
}
