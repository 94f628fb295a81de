//! Decodes a defmt log (the raw bytes the rp2040js harness drained from the
//! firmware's RTT up-buffer) with the firmware's ELF file, using the
//! maintained `defmt-decoder` crate, and prints one line per log frame:
//! `<seconds> <LEVEL> <message>`.
//!
//! ```text
//! defmt-log <firmware.elf> [<log.bin>]    # the log from stdin when omitted
//! ```
//!
//! Exits with 1 if the log holds a malformed frame (the log and the ELF
//! file do not match, or bytes were lost), 2 on a usage or input error.

use std::io::Read;
use std::process::ExitCode;

use defmt_decoder::{DecodeError, Table};

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("defmt-log: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<bool, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (elf_path, log_path) = match args.as_slice() {
        [elf] => (elf, None),
        [elf, log] => (elf, Some(log)),
        _ => {
            return Err(
                "usage: defmt-log <firmware.elf> [<log.bin>] (log from stdin when omitted)".into(),
            );
        }
    };
    let elf =
        std::fs::read(elf_path).map_err(|e| format!("cannot read the ELF file {elf_path}: {e}"))?;
    let table = Table::parse(&elf)
        .map_err(|e| format!("{elf_path}: cannot read its defmt table: {e}"))?
        .ok_or_else(|| format!("{elf_path} has no .defmt section: was it built with defmt?"))?;
    let mut log = Vec::new();
    match log_path {
        Some(p) => log = std::fs::read(p).map_err(|e| format!("cannot read the log {p}: {e}"))?,
        None => {
            std::io::stdin()
                .read_to_end(&mut log)
                .map_err(|e| format!("cannot read the log from stdin: {e}"))?;
        }
    }

    let mut decoder = table.new_stream_decoder();
    decoder.received(&log);
    let mut frames = 0_usize;
    loop {
        match decoder.decode() {
            Ok(frame) => {
                frames += 1;
                let timestamp = frame
                    .display_timestamp()
                    .map(|t| t.to_string())
                    .unwrap_or_default();
                let level = frame
                    .level()
                    .map(|l| l.as_str().to_uppercase())
                    .unwrap_or_else(|| "PRINT".into());
                println!("{timestamp} {level:<5} {}", frame.display_message());
            }
            Err(DecodeError::UnexpectedEof) => {
                eprintln!("defmt-log: {frames} frames from {} bytes", log.len());
                return Ok(true);
            }
            Err(DecodeError::Malformed) => {
                eprintln!(
                    "defmt-log: malformed frame after {frames} frames: the log and the ELF file do not match, or bytes were lost"
                );
                return Ok(false);
            }
        }
    }
}
