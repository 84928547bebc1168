//! Damaged copies of real plugin files, generated from a seed: [`damaged_plugins`].
//!
//! Each copy starts from a template plugin cut at the end of its loadable segments, which drops
//! the debug information (most of a debug build's size) and keeps a file that still loads as
//! the same plugin. Damage is placed within those segments, where the dynamic loader and the
//! plugin's code read, so that most copies are really broken. A flipped byte can still land
//! where nothing reads it, and such a copy loads as a plugin.

use std::fs;
use std::path::{Path, PathBuf};

/// `p_type` of loadable and dynamic program headers.
const SEGMENT_LOAD: u32 = 1;
const SEGMENT_DYNAMIC: u32 = 2;

/// How one copy was damaged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Damage {
    /// Cut after this many bytes, within the loadable segments.
    Truncated(usize),
    /// This many bytes at random positions XORed with random non-zero values.
    FlippedBytes(usize),
    /// This many zero bytes written at a random offset.
    ZeroFilled(usize),
    /// The first bytes of one template (this many) put on the body of another.
    SwappedHeader(usize),
}

/// One generated file.
#[derive(Debug, Clone)]
pub struct DamagedFile {
    /// Where it was written.
    pub path: PathBuf,
    /// What was done to it.
    pub damage: Damage,
}

/// A template plugin cut at the end of its loadable segments.
struct Image {
    bytes: Vec<u8>,
    /// Size of the ELF header plus the program header table.
    headers_len: usize,
}

impl Image {
    fn read(path: &Path) -> Self {
        let bytes = fs::read(path)
            .unwrap_or_else(|err| panic!("failed to read template {}: {err}", path.display()));
        let (segments_end, headers_len) = layout(&bytes)
            .unwrap_or_else(|| panic!("{} is not a 64-bit little-endian ELF file", path.display()));
        Self {
            bytes: bytes[..segments_end].to_vec(),
            headers_len,
        }
    }
}

/// Returns where the loadable and dynamic segments of a 64-bit little-endian ELF file end, and
/// where its program header table ends.
fn layout(bytes: &[u8]) -> Option<(usize, usize)> {
    let read_u64 = |offset: usize| -> Option<u64> {
        Some(u64::from_le_bytes(
            bytes.get(offset..offset + 8)?.try_into().ok()?,
        ))
    };
    let read_u16 = |offset: usize| -> Option<u16> {
        Some(u16::from_le_bytes(
            bytes.get(offset..offset + 2)?.try_into().ok()?,
        ))
    };
    if bytes.get(..4)? != b"\x7fELF" || bytes[4] != 2 || bytes[5] != 1 {
        return None;
    }
    let table = usize::try_from(read_u64(32)?).ok()?;
    let count = usize::from(read_u16(56)?);
    let mut end = 0;
    for index in 0..count {
        let entry = table + index * 56;
        let kind = u32::from_le_bytes(bytes.get(entry..entry + 4)?.try_into().ok()?);
        if kind == SEGMENT_LOAD || kind == SEGMENT_DYNAMIC {
            end = end.max(usize::try_from(read_u64(entry + 8)? + read_u64(entry + 32)?).ok()?);
        }
    }
    Some((end.min(bytes.len()), table + count * 56))
}

/// Returns `template` cut at the end of its loadable segments: a smaller file that loads as
/// the same plugin.
pub fn loadable_part(template: &Path) -> Vec<u8> {
    Image::read(template).bytes
}

/// Returns a copy of `template` whose ELF header says it was built for another machine: AArch64
/// on hosts of any other architecture, x86-64 on AArch64.
pub fn for_other_architecture(template: &Path) -> Vec<u8> {
    let mut bytes = Image::read(template).bytes;
    let other: u16 = if cfg!(target_arch = "aarch64") {
        62
    } else {
        183
    };
    bytes[18..20].copy_from_slice(&other.to_le_bytes());
    bytes
}

/// Writes `count` damaged copies of `templates` (at least two) into `dir` as
/// `damaged-NNN.so`, drawing every random choice from `seed`: a quarter each of truncations,
/// flipped bytes, zero-filled regions and headers swapped between two templates.
pub fn damaged_plugins(
    dir: &Path,
    templates: &[&Path],
    count: usize,
    seed: u64,
) -> Vec<DamagedFile> {
    assert!(templates.len() >= 2, "header swaps need two templates");
    let images: Vec<Image> = templates.iter().map(|path| Image::read(path)).collect();
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut files = Vec::with_capacity(count);

    for index in 0..count {
        let image = &images[index % images.len()];
        let mut bytes = image.bytes.clone();
        let damage = match index % 4 {
            0 => {
                // Every fourth cut falls within the headers, the rest anywhere before the end.
                let cut = if index % 16 == 0 {
                    rng.usize(0..image.headers_len)
                } else {
                    rng.usize(0..bytes.len())
                };
                bytes.truncate(cut);
                Damage::Truncated(cut)
            }
            1 => {
                let flips = [1, 4, 16, 64, 256][rng.usize(0..5)];
                for _ in 0..flips {
                    let position = rng.usize(0..bytes.len());
                    bytes[position] ^= rng.u8(1..=255);
                }
                Damage::FlippedBytes(flips)
            }
            2 => {
                let len = rng.usize(16..=65536).min(bytes.len());
                let start = rng.usize(0..=bytes.len() - len);
                bytes[start..start + len].fill(0);
                Damage::ZeroFilled(len)
            }
            _ => {
                // Any template but this copy's own.
                let other_index =
                    (index % images.len() + 1 + rng.usize(0..images.len() - 1)) % images.len();
                let other = &images[other_index];
                // The ELF header alone, the header with the program headers, or a whole page.
                let len = [64, image.headers_len, 4096][rng.usize(0..3)];
                bytes[..len].copy_from_slice(&other.bytes[..len]);
                Damage::SwappedHeader(len)
            }
        };
        let path = dir.join(format!("damaged-{index:03}.so"));
        fs::write(&path, &bytes)
            .unwrap_or_else(|err| panic!("failed to write {}: {err}", path.display()));
        files.push(DamagedFile { path, damage });
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_reads_segment_end() {
        let mut bytes = vec![0; 64 + 2 * 56];
        bytes[..4].copy_from_slice(b"\x7fELF");
        bytes[4] = 2;
        bytes[5] = 1;
        bytes[32..40].copy_from_slice(&64_u64.to_le_bytes());
        bytes[56..58].copy_from_slice(&2_u16.to_le_bytes());
        bytes[64..68].copy_from_slice(&SEGMENT_LOAD.to_le_bytes());
        bytes[64 + 8..64 + 16].copy_from_slice(&100_u64.to_le_bytes());
        bytes[64 + 32..64 + 40].copy_from_slice(&50_u64.to_le_bytes());
        bytes.resize(400, 0);
        assert_eq!(layout(&bytes), Some((150, 64 + 2 * 56)));
        // A segment past the end of a shorter file ends where the file ends.
        bytes.truncate(140);
        assert_eq!(layout(&bytes), Some((140, 64 + 2 * 56)));
    }
}
