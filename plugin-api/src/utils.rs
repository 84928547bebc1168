//! Free-function forms of the context's services, for code without the [`Context`] at hand.
//!
//! [`Context`]: crate::Context

use std::path::Path;

use crate::context::{self, ContextError, FileLock};

/// Takes the exclusive host-mediated lock for a system path, like
/// [`Context::file_lock`](crate::Context::file_lock).
///
/// It works on the thread that runs the module's `configure`: the plugin's generated glue
/// records the host services there when `configure` starts. Every plugin has its own copy of
/// this crate, so that record is per plugin and never shared. On any other thread, for example
/// one the module spawned itself, it returns [`ContextError::NoContext`] instead of locking.
///
/// ```no_run
/// use plugin_api::utils::file_lock;
///
/// fn add_localhost() -> anyhow::Result<()> {
///     let lock = file_lock("/etc/hosts")?;
///     let mut text = plugin_api::fs::read_to_string_if_exists(lock.path())?.unwrap_or_default();
///     if !text.lines().any(|line| line == "127.0.0.1 localhost") {
///         text.push_str("127.0.0.1 localhost\n");
///         plugin_api::fs::write_atomic(lock.path(), text, 0o644)?;
///     }
///     Ok(())
/// }
/// ```
pub fn file_lock(path: impl AsRef<Path>) -> Result<FileLock, ContextError> {
    let path = path.as_ref();
    match crate::export::current_host() {
        Some(host) => context::lock_with(&host, path, None),
        None => Err(ContextError::NoContext {
            path: path.to_owned(),
        }),
    }
}
