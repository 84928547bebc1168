//! Appends to a shared file under a host file lock, in the two forms the plugin API offers.
//!
//! Both forms leave a window in which another writer would lose or tear a line unless the lock
//! excludes it: the read-modify-write holds the old contents while it waits, and the two-write
//! append waits between the halves of a line.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::thread;
use std::time::Duration;

use plugin_api::anyhow::Context as _;
use plugin_api::{Context, Result, utils};

use crate::{LockApi, TestSettings};

/// Appends `settings.append_lines` lines `"<module> <i>\n"` to `file`, taking the lock once per
/// line.
pub(crate) fn append_lines(ctx: &Context, file: &str, settings: &TestSettings) -> Result<()> {
    let hold = Duration::from_micros(settings.lock_hold_us);
    for index in 0..settings.append_lines {
        let line = format!("{} {index}\n", ctx.module_name());
        match settings.append_with {
            LockApi::Context => rewrite_with_line(ctx, file, &line, hold)?,
            LockApi::Utils => append_in_two_writes(file, &line, hold)?,
        }
    }
    Ok(())
}

/// Reads the whole file, adds `line` and writes the whole file back, under `Context::file_lock`.
fn rewrite_with_line(ctx: &Context, file: &str, line: &str, hold: Duration) -> Result<()> {
    let lock = ctx.file_lock(file)?;
    let path = lock.path();
    create_parent(path)?;

    let mut text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == io::ErrorKind::NotFound => String::new(),
        Err(err) => return Err(err).with_context(|| format!("failed to read {}", path.display())),
    };
    text.push_str(line);
    thread::sleep(hold);
    fs::write(path, text).with_context(|| format!("failed to write {}", path.display()))?;
    Ok(())
}

/// Appends `line` in two writes split after its first space, under `utils::file_lock`.
fn append_in_two_writes(file: &str, line: &str, hold: Duration) -> Result<()> {
    let lock = utils::file_lock(file)?;
    let path = lock.path();
    create_parent(path)?;

    let mut output = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("failed to open {} for appending", path.display()))?;
    let split = line.find(' ').map_or(0, |space| space + 1);
    let (head, tail) = line.split_at(split);
    output
        .write_all(head.as_bytes())
        .with_context(|| format!("failed to append to {}", path.display()))?;
    thread::sleep(hold);
    output
        .write_all(tail.as_bytes())
        .with_context(|| format!("failed to append to {}", path.display()))?;
    Ok(())
}

fn create_parent(path: &Path) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)
            .with_context(|| format!("failed to create {}", parent.display()))?;
    }
    Ok(())
}
