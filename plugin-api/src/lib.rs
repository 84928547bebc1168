//! The crate Configurator module authors depend on.
//!
//! A module is an ordinary Rust type that implements [`ConfigurationModule`], exported from a
//! `cdylib` crate with one call of [`export_module!`]. The host loads the resulting `.so` file,
//! reads the module's metadata, plans dependency batches and calls [`ConfigurationModule::configure`]
//! with a [`Context`] that carries the host's services: file locks, logging, the module's settings
//! and path resolution under the run's root.
//!
//! Modules run in parallel with each other. The rules that keep that safe:
//!
//! - Keep state in locals. A `static` with interior mutability is shared by every thread that
//!   calls into the plugin; guard it with a lock if you must have one.
//! - Take [`Context::file_lock`] (or [`utils::file_lock`]) around every read-modify-write of a
//!   file another module may touch. The host lock excludes other modules of the run and other
//!   Configurator processes on the same root.
//! - Name in [`depends_on`](ConfigurationModule::depends_on) every module whose output you read;
//!   the order of names or files means nothing. An entry may add a version requirement, such
//!   as `"hosts >=1.2, <2"`.
//! - Name in [`after`](ConfigurationModule::after) the modules that should finish first when
//!   they are in the run but that this module can do without.
//! - Set [`force_sequential`](ConfigurationModule::force_sequential) when the module drives a
//!   global resource that no lock covers; it then runs with no other module running.
//!
//! A panic in module code is caught on the plugin's side and reported as that module's failure;
//! it never takes the host down.
//!
//! # A complete module
//!
//! ```
//! use plugin_api::{ConfigurationModule, Context, Outcome, Result};
//! use serde::Deserialize;
//!
//! /// Settings from `[modules.motd]` in the configuration file.
//! #[derive(Deserialize)]
//! #[serde(default, deny_unknown_fields)]
//! struct Settings {
//!     banner: String,
//! }
//!
//! impl Default for Settings {
//!     fn default() -> Self {
//!         Self { banner: "Managed by Configurator".to_owned() }
//!     }
//! }
//!
//! #[derive(Default)]
//! struct Motd;
//!
//! impl ConfigurationModule for Motd {
//!     fn name(&self) -> &str {
//!         "motd"
//!     }
//!
//!     fn description(&self) -> &str {
//!         "Writes the login banner to /etc/motd"
//!     }
//!
//!     fn depends_on(&self) -> &[&str] {
//!         &["system"]
//!     }
//!
//!     /// Every write goes through the lock guard, which records it in check mode.
//!     fn supports_check(&self) -> bool {
//!         true
//!     }
//!
//!     fn configure(&self, ctx: &Context) -> Result<Outcome> {
//!         let settings: Settings = ctx.settings()?;
//!         let wanted = format!("{}\n", settings.banner);
//!
//!         // Hold the lock across the whole read-compare-write.
//!         let lock = ctx.file_lock("/etc/motd")?;
//!         if lock.read_to_string()?.as_deref() == Some(wanted.as_str()) {
//!             return Ok(Outcome::unchanged("banner already current"));
//!         }
//!         lock.write_atomic(wanted, 0o644)?;
//!         ctx.info("wrote a new banner");
//!         Ok(Outcome::changed("wrote /etc/motd"))
//!     }
//! }
//!
//! plugin_api::export_module!(Motd, settings = Settings);
//! # fn main() {}
//! ```
//!
//! The crate's `Cargo.toml` declares `crate-type = ["cdylib"]`; its package version becomes the
//! module version unless [`ConfigurationModule::version`] returns another.
//!
//! # Check mode
//!
//! `configurator run --check` is a dry run: every module that supports check mode runs, reads
//! the system as usual and reports what it would change, and nothing under the run's root
//! changes. A module supports it by returning `true` from
//! [`supports_check`](ConfigurationModule::supports_check) and by making every change through
//! these helpers, which in check mode record the new content with the host instead of writing
//! it:
//!
//! - [`FileLock::write_atomic`], [`Context::write_atomic`] and
//!   [`Context::append_line_if_missing`];
//! - [`fs::write_atomic`] when it runs on the thread that runs `configure`.
//!
//! The reading helpers ([`FileLock::read_to_string`], [`Context::read_to_string`] and
//! [`fs::read_to_string_if_exists`] on the `configure` thread) return the recorded content of a
//! file that a module of the run would have written. A module and the modules that depend on
//! it therefore decide as they would in a real run. `configure` should return the same
//! [`Outcome`], with the same message, as a real run would: `changed` when a helper would have
//! written. [`Context::is_check`] tells the module that the run is a dry run, for anything else
//! it does, such as running a tool that changes the system, which it must then leave out.
//!
//! Writes through `std::fs`, or through [`fs::write_atomic`] on another thread, are not
//! recorded: they happen, also in check mode. A module that needs them must not claim check
//! support. The host shows the recorded changes as unified diffs with `run --diff`, which also
//! works without `--check`.
#![deny(missing_docs)]
#![deny(unsafe_code)]

mod context;
#[doc(hidden)]
pub mod export;
pub mod ffi;
pub mod fs;
pub mod paths;
// Compiled for this crate's own unit tests too, so that CI builds and lints it without the
// feature.
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod utils;

pub use context::{Context, ContextError, FileLock};
pub use ffi::LogLevel;

/// Re-exported so that the generated glue can name abi_stable's types from any plugin crate.
#[doc(hidden)]
pub use abi_stable;

/// Re-exported so that modules can build, wrap and add context to errors without another
/// dependency.
pub use anyhow;

/// The result type of [`ConfigurationModule::configure`]: any error, with context.
pub type Result<T, E = anyhow::Error> = std::result::Result<T, E>;

/// A unit of configuration that Configurator runs, possibly in parallel with other modules.
///
/// Implementations must be `Send + Sync`: the host may read metadata and call `configure` from
/// any worker thread.
///
/// Every method but `configure` returns metadata. The host's plugin scanner reads it once per
/// plugin file and caches it until the file changes, so it must not depend on the environment
/// the module is built in.
pub trait ConfigurationModule: Send + Sync + 'static {
    /// Unique name of the module: the key of its `[modules.NAME]` table and the name other
    /// modules list in `depends_on`.
    fn name(&self) -> &str;

    /// The module's version. `None`, the default, means the plugin crate's Cargo version.
    fn version(&self) -> Option<&str> {
        None
    }

    /// One-line description shown by `configurator list`.
    fn description(&self) -> &str;

    /// The modules that must finish before this one starts. Empty by default.
    ///
    /// Each entry is a module name, optionally followed by whitespace and a semver version
    /// requirement in Cargo's syntax: `"hosts"`, `"hosts >=1.2, <2"` or `"hosts 1.2"` (which
    /// means `^1.2`). The host rejects the module set before anything runs when a listed module
    /// is missing or disabled, or when its version does not meet the requirement. A host built
    /// against plugin-api 1.0 does not know requirements and reports such an entry as a
    /// missing module.
    fn depends_on(&self) -> &[&str] {
        &[]
    }

    /// Names of the modules that must finish before this one starts when they are in the run.
    /// Empty by default.
    ///
    /// Unlike [`depends_on`](Self::depends_on), this is ordering only: a module listed here
    /// that is not installed, is disabled or is left out of the run is ignored, and when it
    /// fails this module still runs. Hosts built against plugin-api 1.0 ignore this list.
    fn after(&self) -> &[&str] {
        &[]
    }

    /// Whether the module must run with no other module running. `false` by default.
    fn force_sequential(&self) -> bool {
        false
    }

    /// Whether the module supports check mode (`configurator run --check`). `false` by default.
    ///
    /// Return `true` only when `configure` makes every change through the context's file
    /// helpers (see [Check mode](crate#check-mode)), which record instead of writing in check
    /// mode. In a check run the host skips a module that returns `false`, and the modules that
    /// depend on it, without calling their `configure`. Hosts built against plugin-api 1.0 have
    /// no check mode and never ask.
    fn supports_check(&self) -> bool {
        false
    }

    /// Applies the module's configuration, reporting whether anything changed.
    ///
    /// Make it idempotent: a second run on an already configured system should change nothing
    /// and return [`Outcome::unchanged`].
    fn configure(&self, ctx: &Context) -> Result<Outcome>;
}

/// What a successful [`ConfigurationModule::configure`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    changed: bool,
    message: String,
}

impl Outcome {
    /// Reports that the module changed the system, with a short summary of the change.
    pub fn changed(message: impl Into<String>) -> Self {
        Self {
            changed: true,
            message: message.into(),
        }
    }

    /// Reports that everything was already as configured.
    pub fn unchanged(message: impl Into<String>) -> Self {
        Self {
            changed: false,
            message: message.into(),
        }
    }

    /// Returns whether the module changed anything.
    pub fn is_changed(&self) -> bool {
        self.changed
    }

    /// Returns the summary message.
    pub fn message(&self) -> &str {
        &self.message
    }
}
