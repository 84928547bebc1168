//! Behaviour shared by the end-to-end test plugins, and the trace format the tests read back.
//!
//! Each test plugin is a tiny cdylib crate under `tests/plugins/` that calls
//! [`export_test_module!`] with its name, dependencies, optional `after` list, `force_sequential`
//! flag and optional `supports_check` flag. What the module
//! does when it runs comes from its `[modules.NAME]` table, read as [`TestSettings`]: sleep, append
//! lines to a shared file under a file lock, fail, panic, or report a change or none. Every run
//! appends a [`TraceRecord`] to `<root>/trace/<name>` so that a test can check from what really
//! ran which modules overlapped and in which order they ran.

mod append;
pub mod trace;

use std::thread;
use std::time::Duration;

use plugin_api::anyhow::bail;
use plugin_api::{Context, Outcome, Result};
use serde::Deserialize;

pub use plugin_api;
pub use trace::TraceRecord;

/// The description every test module reports.
pub const DESCRIPTION: &str = "End-to-end test module driven by its settings table";

/// Settings from a test module's `[modules.NAME]` table. Every key is optional.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TestSettings {
    /// Milliseconds to sleep inside `configure`, before anything else the module does.
    pub sleep_ms: u64,
    /// Makes `configure` return an error with this message.
    pub fail: Option<String>,
    /// Makes `configure` panic with this message. Takes precedence over `fail`.
    pub panic: Option<String>,
    /// System path of the shared file to append to, resolved under the run's root by the host.
    pub append_file: Option<String>,
    /// Number of lines to append to `append_file`: `"<module> <i>\n"` for `i` in `0..append_lines`.
    pub append_lines: u32,
    /// The lock API that guards each append.
    pub append_with: LockApi,
    /// Microseconds to hold the lock in the middle of each append, so that a lock that excludes
    /// nothing loses or tears lines.
    pub lock_hold_us: u64,
    /// Whether a successful run reports a change. `true` by default.
    pub changed: bool,
    /// System paths to write `"written by <module>\n"` to, each under its lock, in order. A
    /// path the host rejects fails the module with the host's message.
    pub write_files: Vec<String>,
    /// System paths to read through `Context::read_to_string`, which takes each file's lock.
    pub read_files: Vec<String>,
    /// System paths to write through `plugin_api::fs::write_atomic` without taking the lock.
    pub write_unlocked: Vec<String>,
    /// System paths to lock one after another, keeping each lock while taking the next and
    /// sleeping `lock_step_ms` before each further lock, to provoke lock-order deadlocks.
    pub lock_sequence: Vec<String>,
    /// Milliseconds to sleep between the locks of `lock_sequence`.
    pub lock_step_ms: u64,
    /// System path to replace `rewrite_versions` times through `Context::write_atomic`, version
    /// `v` being [`REWRITE_LINES`] lines `"version v"`, so that a test can kill the run midway.
    pub rewrite_file: Option<String>,
    /// How many versions of `rewrite_file` to write.
    pub rewrite_versions: u32,
}

/// Lines in each version of `rewrite_file`: enough that a write takes several system calls.
pub const REWRITE_LINES: usize = 4096;

impl Default for TestSettings {
    fn default() -> Self {
        Self {
            sleep_ms: 0,
            fail: None,
            panic: None,
            append_file: None,
            append_lines: 0,
            append_with: LockApi::default(),
            lock_hold_us: 0,
            changed: true,
            write_files: Vec::new(),
            read_files: Vec::new(),
            write_unlocked: Vec::new(),
            lock_sequence: Vec::new(),
            lock_step_ms: 0,
            rewrite_file: None,
            rewrite_versions: 0,
        }
    }
}

/// The lock API a test module uses for its appends, so that both forms are exercised.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LockApi {
    /// `Context::file_lock`, then a read-modify-write of the whole file.
    #[default]
    Context,
    /// `utils::file_lock`, then an append of each line in two writes.
    Utils,
}

/// Runs a test module: records its trace, then sleeps, appends, panics or fails as its settings
/// request.
///
/// The trace is written when this function returns or unwinds, so a failed or panicking module
/// leaves one as well.
pub fn configure(ctx: &Context) -> Result<Outcome> {
    let _trace = trace::TraceGuard::start(ctx)?;
    let settings: TestSettings = ctx.settings()?;

    thread::sleep(Duration::from_millis(settings.sleep_ms));

    if let Some(file) = &settings.append_file {
        append::append_lines(ctx, file, &settings)?;
    }
    for file in &settings.read_files {
        ctx.read_to_string(file)?;
    }
    for file in &settings.write_unlocked {
        let text = format!("written by {} without the lock\n", ctx.module_name());
        plugin_api::fs::write_atomic(&ctx.resolve(file)?, text, 0o644)?;
    }
    let mut held = Vec::new();
    for (index, file) in settings.lock_sequence.iter().enumerate() {
        if index > 0 {
            thread::sleep(Duration::from_millis(settings.lock_step_ms));
        }
        held.push(ctx.file_lock(file)?);
    }
    drop(held);
    if let Some(file) = &settings.rewrite_file {
        for version in 0..settings.rewrite_versions {
            let text = format!("version {version}\n").repeat(REWRITE_LINES);
            ctx.write_atomic(file, &text, 0o644)?;
        }
    }
    for file in &settings.write_files {
        let lock = ctx.file_lock(file)?;
        let text = format!("written by {}\n", ctx.module_name());
        plugin_api::fs::write_atomic(lock.path(), text, 0o644)?;
    }

    if let Some(message) = &settings.panic {
        panic!("{message}");
    }
    if let Some(message) = &settings.fail {
        bail!("{message}");
    }

    if settings.changed {
        Ok(Outcome::changed("test module reports a change"))
    } else {
        Ok(Outcome::unchanged("test module reports no change"))
    }
}

/// Defines and exports a test module from a cdylib crate.
///
/// ```ignore
/// configurator_testkit::export_test_module! {
///     name: "gamma",
///     depends_on: ["alpha >=1.0, <2"],
///     after: ["beta"],
///     force_sequential: false,
/// }
/// ```
///
/// `after` may be left out, for an empty list. `supports_check: true` may follow
/// `force_sequential` to declare check mode support; without it the module has none. The
/// module's version is the plugin crate's Cargo version and its description is
/// [`DESCRIPTION`].
#[macro_export]
macro_rules! export_test_module {
    (
        name: $name:literal,
        depends_on: [$($dependency:literal),* $(,)?],
        $(after: [$($after:literal),* $(,)?],)?
        force_sequential: $force_sequential:literal
        $(, supports_check: $supports_check:literal)? $(,)?
    ) => {
        /// The test module this plugin exports. Its settings table drives what it does.
        #[derive(Default)]
        pub struct TestModule;

        impl $crate::plugin_api::ConfigurationModule for TestModule {
            fn name(&self) -> &str {
                $name
            }

            fn description(&self) -> &str {
                $crate::DESCRIPTION
            }

            fn depends_on(&self) -> &[&str] {
                &[$($dependency),*]
            }

            fn after(&self) -> &[&str] {
                &[$($($after),*)?]
            }

            fn force_sequential(&self) -> bool {
                $force_sequential
            }

            fn supports_check(&self) -> bool {
                false $(|| $supports_check)?
            }

            fn configure(
                &self,
                ctx: &$crate::plugin_api::Context,
            ) -> $crate::plugin_api::Result<$crate::plugin_api::Outcome> {
                $crate::configure(ctx)
            }
        }

        $crate::plugin_api::export_module!(TestModule, settings = $crate::TestSettings);
    };
}
