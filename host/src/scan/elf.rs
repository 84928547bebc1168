//! A structural check of a file's ELF header and program headers, done by reading bytes and
//! without loading anything.
//!
//! It rejects, with a precise reason, files that `dlopen` would reject or crash on before any
//! plugin code runs. These are files that are not ELF, ELF files for another class, byte order
//! or machine, and files that are not shared libraries. It also rejects truncated files whose
//! loadable segments extend past the end of the file, because touching a mapped page beyond the
//! end of the file raises SIGBUS.
//! A file that passes can still be damaged inside its segments; the plugin scanner finds out.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt as _;

/// The ELF magic number at the start of every ELF file.
const MAGIC: &[u8; 4] = b"\x7fELF";
/// Size of the ELF header of a 64-bit file.
const HEADER_SIZE: usize = 64;
/// Size of one program header entry of a 64-bit file.
const PROGRAM_HEADER_SIZE: u64 = 56;
/// `e_ident[EI_CLASS]` of a 64-bit file.
const CLASS_64: u8 = 2;
/// `e_ident[EI_DATA]` values.
const DATA_LITTLE_ENDIAN: u8 = 1;
const DATA_BIG_ENDIAN: u8 = 2;
/// `e_type` of a shared object.
const TYPE_SHARED_OBJECT: u16 = 3;
/// `e_phnum` value meaning that the real count is stored elsewhere (`PN_XNUM`).
const PROGRAM_HEADER_COUNT_ESCAPE: u16 = 0xffff;
/// Program header types.
const SEGMENT_LOAD: u32 = 1;
const SEGMENT_DYNAMIC: u32 = 2;

/// Checks that `file`, of `file_len` bytes, is a shared library for this machine whose
/// segments lie within the file. The error is the one-line reason.
pub fn check(file: &File, file_len: u64) -> Result<(), String> {
    let read_error = |error: io::Error| format!("cannot be read: {error}");
    let mut header = [0; HEADER_SIZE];
    let header_len = usize::try_from(file_len).map_or(HEADER_SIZE, |len| len.min(HEADER_SIZE));
    file.read_exact_at(&mut header[..header_len], 0)
        .map_err(read_error)?;
    let header = parse_header(&header[..header_len], file_len)?;

    let table_len = u64::from(header.program_header_count) * PROGRAM_HEADER_SIZE;
    let table_len = usize::try_from(table_len).map_err(|_| "damaged ELF header".to_owned())?;
    let mut table = vec![0; table_len];
    file.read_exact_at(&mut table, header.program_header_offset)
        .map_err(read_error)?;
    check_segments(&header, &table, file_len)
}

/// The fields of the ELF header that the check uses.
#[derive(Debug)]
struct Header {
    big_endian: bool,
    program_header_offset: u64,
    program_header_count: u16,
}

/// Parses and checks the ELF header, given the first (up to 64) bytes of a file of `file_len`
/// bytes.
fn parse_header(bytes: &[u8], file_len: u64) -> Result<Header, String> {
    if file_len == 0 {
        return Err("the file is empty".to_owned());
    }
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(if looks_like_text(bytes) {
            "not a shared library: it is a text file".to_owned()
        } else {
            "not a shared library: it does not start with the ELF magic number".to_owned()
        });
    }
    if bytes.len() < HEADER_SIZE {
        return Err(format!(
            "truncated: at {file_len} bytes it is too short for an ELF header"
        ));
    }

    let class = bytes[4];
    if class != CLASS_64 || !cfg!(target_pointer_width = "64") {
        return Err(format!(
            "built for another word size (ELF class {class}); this host loads only {}-bit \
             libraries",
            usize::BITS
        ));
    }
    let big_endian = match bytes[5] {
        DATA_LITTLE_ENDIAN => false,
        DATA_BIG_ENDIAN => true,
        other => return Err(format!("damaged ELF header: unknown byte order {other}")),
    };
    if big_endian != cfg!(target_endian = "big") {
        return Err(format!(
            "built for {} machines, but this host is {}",
            if big_endian {
                "big-endian"
            } else {
                "little-endian"
            },
            if big_endian {
                "little-endian"
            } else {
                "big-endian"
            }
        ));
    }

    let read_u16 = |offset: usize| {
        let pair = [bytes[offset], bytes[offset + 1]];
        if big_endian {
            u16::from_be_bytes(pair)
        } else {
            u16::from_le_bytes(pair)
        }
    };
    let file_type = read_u16(16);
    if file_type != TYPE_SHARED_OBJECT {
        return Err(format!(
            "not a shared library: it is an ELF {}",
            match file_type {
                1 => "relocatable object file".to_owned(),
                2 => "executable".to_owned(),
                4 => "core dump".to_owned(),
                other => format!("file of type {other}"),
            }
        ));
    }
    check_machine(read_u16(18))?;

    let program_header_offset = read_u64(&bytes[32..40], big_endian);
    let entry_size = read_u16(54);
    let program_header_count = read_u16(56);
    if u64::from(entry_size) != PROGRAM_HEADER_SIZE {
        return Err(format!(
            "damaged ELF header: program header entries of {entry_size} bytes instead of \
             {PROGRAM_HEADER_SIZE}"
        ));
    }
    if program_header_count == 0 || program_header_count == PROGRAM_HEADER_COUNT_ESCAPE {
        return Err(format!(
            "damaged ELF header: {program_header_count} program headers"
        ));
    }
    let table_end = program_header_offset
        .checked_add(u64::from(program_header_count) * PROGRAM_HEADER_SIZE)
        .filter(|&end| end <= file_len);
    if table_end.is_none() {
        return Err(format!(
            "truncated or damaged: its program headers at byte {program_header_offset} do not \
             fit in the file's {file_len} bytes"
        ));
    }
    Ok(Header {
        big_endian,
        program_header_offset,
        program_header_count,
    })
}

/// Checks the program header table: at least one loadable segment and a dynamic segment, all
/// within the file.
fn check_segments(header: &Header, table: &[u8], file_len: u64) -> Result<(), String> {
    let mut loadable = 0;
    let mut dynamic = false;
    let mut end_of_segments = 0_u64;
    for entry in table.chunks_exact(PROGRAM_HEADER_SIZE as usize) {
        let kind_bytes = [entry[0], entry[1], entry[2], entry[3]];
        let kind = if header.big_endian {
            u32::from_be_bytes(kind_bytes)
        } else {
            u32::from_le_bytes(kind_bytes)
        };
        if kind != SEGMENT_LOAD && kind != SEGMENT_DYNAMIC {
            continue;
        }
        let offset = read_u64(&entry[8..16], header.big_endian);
        let size_in_file = read_u64(&entry[32..40], header.big_endian);
        let Some(end) = offset.checked_add(size_in_file) else {
            return Err("damaged: a segment's offset and size overflow".to_owned());
        };
        end_of_segments = end_of_segments.max(end);
        if kind == SEGMENT_LOAD {
            loadable += 1;
        } else {
            dynamic = true;
        }
    }
    if loadable == 0 {
        return Err("damaged: it has no loadable segment".to_owned());
    }
    if !dynamic {
        return Err("not a loadable shared library: it has no dynamic segment".to_owned());
    }
    if end_of_segments > file_len {
        return Err(format!(
            "truncated: its segments extend to byte {end_of_segments}, but the file has \
             {file_len} bytes"
        ));
    }
    Ok(())
}

fn read_u64(bytes: &[u8], big_endian: bool) -> u64 {
    let mut array = [0; 8];
    array.copy_from_slice(&bytes[..8]);
    if big_endian {
        u64::from_be_bytes(array)
    } else {
        u64::from_le_bytes(array)
    }
}

/// Returns whether the first bytes of a file read as text: no NUL and few control bytes.
fn looks_like_text(bytes: &[u8]) -> bool {
    !bytes.is_empty()
        && bytes
            .iter()
            .all(|&byte| byte >= 0x20 || matches!(byte, b'\n' | b'\r' | b'\t'))
}

/// Checks `e_machine` against the machine this host was built for, when [`HOST_MACHINE`] has
/// its number.
fn check_machine(machine: u16) -> Result<(), String> {
    let Some(host) = HOST_MACHINE else {
        return Ok(());
    };
    if machine == host {
        return Ok(());
    }
    let name = machine_name(machine).map_or_else(String::new, |name| format!("{name}, "));
    Err(format!(
        "built for another architecture ({name}ELF machine {machine}), but this host runs on \
         {} (ELF machine {host})",
        std::env::consts::ARCH
    ))
}

/// The `e_machine` value of the architecture this host was built for.
const HOST_MACHINE: Option<u16> = if cfg!(target_arch = "x86_64") {
    Some(62)
} else if cfg!(target_arch = "aarch64") {
    Some(183)
} else if cfg!(target_arch = "x86") {
    Some(3)
} else if cfg!(target_arch = "arm") {
    Some(40)
} else if cfg!(any(target_arch = "riscv64", target_arch = "riscv32")) {
    Some(243)
} else if cfg!(target_arch = "powerpc64") {
    Some(21)
} else if cfg!(target_arch = "s390x") {
    Some(22)
} else if cfg!(target_arch = "loongarch64") {
    Some(258)
} else {
    None
};

/// Names the common `e_machine` values.
fn machine_name(machine: u16) -> Option<&'static str> {
    Some(match machine {
        3 => "x86",
        8 => "MIPS",
        20 => "PowerPC",
        21 => "PowerPC64",
        22 => "S/390",
        40 => "ARM",
        43 => "SPARC V9",
        62 => "x86-64",
        183 => "AArch64",
        243 => "RISC-V",
        258 => "LoongArch",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Returns a little-endian 64-bit shared-object header for this host's machine, whose
    /// program header table of `count` entries follows it.
    fn header(count: u16) -> Vec<u8> {
        let mut bytes = vec![0; HEADER_SIZE];
        bytes[..4].copy_from_slice(MAGIC);
        bytes[4] = CLASS_64;
        bytes[5] = DATA_LITTLE_ENDIAN;
        bytes[16..18].copy_from_slice(&TYPE_SHARED_OBJECT.to_le_bytes());
        bytes[18..20].copy_from_slice(&HOST_MACHINE.unwrap_or(62).to_le_bytes());
        bytes[32..40].copy_from_slice(&(HEADER_SIZE as u64).to_le_bytes());
        bytes[54..56].copy_from_slice(&(PROGRAM_HEADER_SIZE as u16).to_le_bytes());
        bytes[56..58].copy_from_slice(&count.to_le_bytes());
        bytes
    }

    fn segment(kind: u32, offset: u64, size: u64) -> Vec<u8> {
        let mut bytes = vec![0; PROGRAM_HEADER_SIZE as usize];
        bytes[..4].copy_from_slice(&kind.to_le_bytes());
        bytes[8..16].copy_from_slice(&offset.to_le_bytes());
        bytes[32..40].copy_from_slice(&size.to_le_bytes());
        bytes
    }

    fn check_image(header_bytes: &[u8], table: &[u8], file_len: u64) -> Result<(), String> {
        let header = parse_header(header_bytes, file_len)?;
        check_segments(&header, table, file_len)
    }

    #[test]
    fn valid_image_passes() {
        let table = [
            segment(SEGMENT_LOAD, 0, 4096),
            segment(SEGMENT_DYNAMIC, 512, 64),
        ]
        .concat();
        check_image(&header(2), &table, 4096).unwrap();
    }

    #[test]
    fn empty_and_text_files_are_named() {
        assert_eq!(parse_header(&[], 0).unwrap_err(), "the file is empty");
        let error = parse_header(b"just some words\n", 16).unwrap_err();
        assert!(error.contains("text file"), "{error}");
        let error = parse_header(&[0, 1, 2, 3, 4, 5], 6).unwrap_err();
        assert!(error.contains("ELF magic number"), "{error}");
    }

    #[test]
    fn short_header_is_truncated() {
        let error = parse_header(&header(1)[..40], 40).unwrap_err();
        assert!(error.starts_with("truncated"), "{error}");
    }

    #[test]
    fn other_machine_is_rejected() {
        let mut bytes = header(1);
        bytes[18..20].copy_from_slice(&2_u16.to_le_bytes());
        if HOST_MACHINE.is_some() {
            let error = parse_header(&bytes, 4096).unwrap_err();
            assert!(error.contains("ELF machine 2"), "{error}");
        }
    }

    #[test]
    fn executable_is_no_shared_library() {
        let mut bytes = header(1);
        bytes[16..18].copy_from_slice(&2_u16.to_le_bytes());
        let error = parse_header(&bytes, 4096).unwrap_err();
        assert!(error.contains("executable"), "{error}");
    }

    #[test]
    fn segment_past_end_of_file_is_truncation() {
        let table = [
            segment(SEGMENT_LOAD, 0, 8192),
            segment(SEGMENT_DYNAMIC, 512, 64),
        ]
        .concat();
        let error = check_image(&header(2), &table, 4096).unwrap_err();
        assert!(error.contains("extend to byte 8192"), "{error}");
    }

    #[test]
    fn program_headers_past_end_of_file_are_rejected() {
        let error = parse_header(&header(100), 1000).unwrap_err();
        assert!(error.contains("program headers"), "{error}");
    }

    #[test]
    fn missing_dynamic_segment_is_rejected() {
        let table = segment(SEGMENT_LOAD, 0, 4096);
        let error = check_image(&header(1), &table, 4096).unwrap_err();
        assert!(error.contains("no dynamic segment"), "{error}");
    }

    #[test]
    fn overflowing_segment_is_rejected() {
        let table = [
            segment(SEGMENT_LOAD, u64::MAX, 2),
            segment(SEGMENT_DYNAMIC, 0, 1),
        ]
        .concat();
        let error = check_image(&header(2), &table, 4096).unwrap_err();
        assert!(error.contains("overflow"), "{error}");
    }
}
