//! Test plugin whose module name is the stem of the file it was loaded from, so that one build
//! copied as `stress-00.so` … `stress-31.so` gives 32 distinct modules for the stress tests.
//!
//! The plugin finds its own file in `/proc/self/maps`: the mapping that contains the address of
//! one of its functions. Each copy is a separate file, so the dynamic loader maps each one apart
//! and each copy sees its own name. Behaviour comes from `configurator-testkit`'s settings.

use std::fs;
use std::path::Path;

use configurator_testkit::plugin_api::{self, ConfigurationModule, Context, Outcome, Result};

/// A test module named after its file.
pub struct NamedByFile {
    name: String,
}

impl NamedByFile {
    fn from_own_file() -> Self {
        let name = own_file_stem().unwrap_or_else(|| "named-by-file".to_owned());
        Self { name }
    }
}

/// Returns the stem of the mapped file that contains this function's code.
fn own_file_stem() -> Option<String> {
    let address = own_file_stem as fn() -> Option<String> as usize;
    let maps = fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines().find_map(|line| {
        // start-end perms offset device inode path
        let mut fields = line.split_whitespace();
        let (start, end) = fields.next()?.split_once('-')?;
        let start = usize::from_str_radix(start, 16).ok()?;
        let end = usize::from_str_radix(end, 16).ok()?;
        if !(start..end).contains(&address) {
            return None;
        }
        let path = fields.nth(4)?;
        Some(Path::new(path).file_stem()?.to_string_lossy().into_owned())
    })
}

impl ConfigurationModule for NamedByFile {
    fn name(&self) -> &str {
        &self.name
    }

    fn description(&self) -> &str {
        configurator_testkit::DESCRIPTION
    }

    fn configure(&self, ctx: &Context) -> Result<Outcome> {
        configurator_testkit::configure(ctx)
    }
}

plugin_api::export_module!(NamedByFile, NamedByFile::from_own_file());
