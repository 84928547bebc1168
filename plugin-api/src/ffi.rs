//! The ABI-stable boundary between the host and a plugin.
//!
//! Everything that crosses a shared-library boundary is declared here, built from abi_stable
//! types so that its layout is checked when the host loads a plugin. Module authors never touch
//! these types: [`export_module!`](crate::export_module) generates the plugin side and the host
//! uses them through its loader. Read [`ModuleLib`] first.
//!
//! # Evolving the interface
//!
//! [`ModuleLib`] and [`HostServices`] are prefix types: a later minor release of `plugin-api`
//! may append functions after the field or method marked `#[sabi(last_prefix_field)]`, and a
//! plugin built against the earlier release still loads. The host reads appended fields as
//! `Option`s and falls back to a documented default when the plugin lacks them. Changing,
//! reordering or removing an existing field, or changing any `#[repr(C)]` struct passed by value
//! ([`ModuleMetadata`], [`FfiOutcome`], [`FfiFailure`], [`FfiSettingsCheck`]), is a breaking
//! change and needs a new major version. [`ModuleLib`] states the steps for adding a field.

// abi_stable's `StableAbi` derive and `#[sabi_trait]` expand to unsafe code and to impl blocks
// inside generated constants; this file writes neither by hand.
#![allow(unsafe_code, non_local_definitions)]

use abi_stable::{
    StableAbi, declare_root_module_statics,
    library::RootModule,
    package_version_strings, sabi_trait,
    sabi_types::VersionStrings,
    std_types::{RArc, ROption, RResult, RSlice, RStr, RString, RVec},
};

/// The functions a plugin exports: the root module of every Configurator plugin.
///
/// # Adding a field
///
/// The fields up to `configure`, which carries `#[sabi(last_prefix_field)]`, are the 1.0.0
/// interface that every 1.x plugin has. A later field is missing from plugins built against
/// an older 1.x release, so the host reads it through [`ModuleLibRef`]'s accessor as an
/// `Option` (this is what `#[sabi(missing_field(option))]` does) and uses the default that
/// the field's documentation states. abi_stable's own layout check rejects a plugin with fewer
/// fields than the host, so the host's loader checks such a plugin a second time with the
/// roles swapped. That check passes when the plugin's fields are the first fields of the
/// host's.
/// To add a field:
///
/// 1. Append it after the last field. Never move the `#[sabi(last_prefix_field)]` marker,
///    reorder fields or change an existing field's type.
/// 2. Document the release that added it and what the host assumes when it is missing.
/// 3. Raise `plugin-api`'s minor version, fill the field in the generated glue
///    (`export::module_lib`), and handle `None` in the host's loader.
/// 4. Keep the end-to-end test that loads a plugin built against the frozen 1.0.0 copy
///    passing.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = ModuleLibRef)))]
#[sabi(missing_field(option))]
pub struct ModuleLib {
    /// Returns the module's metadata, or the panic message when building the module panicked.
    pub metadata: extern "C" fn() -> RResult<ModuleMetadata, RString>,

    /// Runs the module's `configure` with the given host services and settings table, the
    /// latter serialized as TOML text.
    #[sabi(last_prefix_field)]
    pub configure: extern "C" fn(HostServicesBox, RStr<'_>) -> RResult<FfiOutcome, FfiFailure>,

    /// Returns the names from [`ConfigurationModule::after`], or the panic message when the
    /// module's `after` panicked. Added in 1.1.0; a plugin without it has an empty list.
    ///
    /// [`ConfigurationModule::after`]: crate::ConfigurationModule::after
    pub after: extern "C" fn() -> RResult<RVec<RString>, RString>,

    /// Returns [`ConfigurationModule::supports_check`], or the panic message when it panicked.
    /// Added in 1.1.0; a plugin without it does not support check mode, so a `run --check`
    /// skips it.
    ///
    /// [`ConfigurationModule::supports_check`]: crate::ConfigurationModule::supports_check
    pub supports_check: extern "C" fn() -> RResult<bool, RString>,

    /// Checks a settings table, given as TOML text, against the settings type the module
    /// declared with `export_module!(Module, settings = Type)`. Added in 1.1.0; the host does
    /// not check the settings of a plugin without it, as for [`FfiSettingsCheck::Undeclared`].
    pub check_settings: extern "C" fn(RStr<'_>) -> FfiSettingsCheck,
}

impl RootModule for ModuleLibRef {
    declare_root_module_statics! {ModuleLibRef}

    const BASE_NAME: &'static str = "configurator_module";
    const NAME: &'static str = "configurator module";
    // The interface version is this crate's version: the loader rejects a plugin built against
    // an incompatible `plugin-api` before it calls any of the plugin's functions.
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

/// The interface version of this copy of `plugin-api`, as `major.minor.patch`.
pub const INTERFACE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// A module's description of itself, read by the host before planning.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct ModuleMetadata {
    /// Unique module name, used in `depends_on` and as the configuration table's key.
    pub name: RString,
    /// The module's own release version.
    pub version: RString,
    /// One-line description.
    pub description: RString,
    /// Names of the modules that must finish before this one starts.
    pub depends_on: RVec<RString>,
    /// Whether the module must run with no other module running.
    pub force_sequential: bool,
}

/// The outcome of a successful `configure`, as it crosses the boundary.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct FfiOutcome {
    /// Whether the module changed anything.
    pub changed: bool,
    /// Short human-readable summary.
    pub message: RString,
}

/// The failure of a `configure` call, as it crosses the boundary.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The module returned an error.
    Error,
    /// The module panicked; the panic was caught on the plugin's side of the boundary.
    Panic,
}

/// A failed `configure` call, with the error chain or panic message as text.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct FfiFailure {
    /// Whether the module returned an error or panicked.
    pub kind: FailureKind,
    /// The error chain, outermost first, or the panic message and location.
    pub message: RString,
}

/// The result of checking a settings table against the module's declared settings type.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub enum FfiSettingsCheck {
    /// The module declares no settings type, so the table cannot be checked before the run.
    Undeclared,
    /// The table deserializes into the declared type.
    Valid,
    /// The table does not deserialize into the declared type.
    Invalid(RVec<FfiSettingsProblem>),
}

/// One mistake in a module's settings table.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct FfiSettingsProblem {
    /// The key path of the mistake in the table, such as `entries[2].address`, or empty for
    /// the table itself, for example when a required key is missing from it.
    pub path: RString,
    /// serde's error message, naming the expected type and the value found.
    pub message: RString,
}

/// Severity of a message a module logs through the host.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// A failure the module reports but may recover from.
    Error,
    /// Something degraded but the module goes on.
    Warn,
    /// Normal progress.
    Info,
    /// Detail for troubleshooting.
    Debug,
    /// Very fine-grained detail.
    Trace,
}

/// Services the host offers to a running module.
///
/// The host implements this trait. Plugins receive it as an ABI-stable trait object
/// ([`HostServicesBox`]), because a plugin's `static`s and thread-locals are its own and never
/// shared with the host. Paths cross as raw bytes so that non-UTF-8 paths survive. No
/// implementation may panic, because a panic here would unwind across the boundary and abort.
#[sabi_trait]
pub trait HostServices: Clone + Send + Sync + 'static {
    /// Resolves `path` under the run's root, as the host would for [`lock`](Self::lock).
    fn resolve(&self, path: RSlice<'_, u8>) -> RResult<RVec<u8>, RString>;

    /// Acquires the exclusive lock for `path`, blocking until it is free, and returns a token
    /// for [`unlock`](Self::unlock).
    fn lock(&self, path: RSlice<'_, u8>) -> RResult<u64, RString>;

    /// Releases the lock identified by `token`. Unknown tokens are ignored.
    fn unlock(&self, token: u64);

    /// Records a message on the module's behalf; the host prefixes it with the module's name.
    fn log(&self, level: LogLevel, message: RStr<'_>);

    /// Returns the run's root directory.
    #[sabi(last_prefix_field)]
    fn root(&self) -> RVec<u8>;

    /// Like [`lock`](Self::lock), but fails once `timeout_ms` milliseconds passed without the
    /// lock. Added in 1.1; against a 1.0 host it waits without a limit.
    fn lock_with_timeout(&self, path: RSlice<'_, u8>, timeout_ms: u64) -> RResult<u64, RString> {
        let _ = timeout_ms;
        self.lock(path)
    }

    /// Tells the host that the module read or wrote `path`, a path on the real filesystem as
    /// resolved under the run's root, for the host's access audit. Added in 1.1; a 1.0 host
    /// records nothing.
    fn record_access(&self, kind: AccessKind, path: RSlice<'_, u8>) {
        let _ = (kind, path);
    }

    /// Returns whether the run is a dry run (`run --check`), in which the module must change
    /// nothing and report what it would change. Added in 1.1; a 1.0 host has no check mode and
    /// returns `false`.
    fn check_mode(&self) -> bool {
        false
    }

    /// Returns whether the host wants every file change reported through
    /// [`record_change`](Self::record_change): in check mode and when the run shows diffs.
    /// Added in 1.1; a 1.0 host returns `false`.
    fn records_changes(&self) -> bool {
        false
    }

    /// Tells the host that the module replaced, or in check mode would replace, the content
    /// `old` of `path` (resolved under the run's root) with `new`. `old` is `RNone` when the
    /// file did not exist. In check mode the host keeps `new` as the file's content for the rest
    /// of the run, returned by [`staged_content`](Self::staged_content). Added in 1.1; a 1.0
    /// host records nothing.
    fn record_change(&self, path: RSlice<'_, u8>, old: ROption<RVec<u8>>, new: RVec<u8>) {
        let _ = (path, old, new);
    }

    /// Returns, in check mode, the content that a module of this run would have written to
    /// `path` (resolved under the run's root), or `RNone` when no module would have written it.
    /// Added in 1.1; a 1.0 host returns `RNone`.
    fn staged_content(&self, path: RSlice<'_, u8>) -> ROption<RVec<u8>> {
        let _ = path;
        ROption::RNone
    }

    /// Acquires the lock for `path` like [`lock_with_timeout`](Self::lock_with_timeout)
    /// (`u64::MAX` milliseconds waiting like [`lock`](Self::lock)) and returns the token with
    /// the resolved path, so that the path is resolved once. Added in 1.1; against a 1.0 host
    /// it resolves and locks in two calls.
    fn lock_resolved(&self, path: RSlice<'_, u8>, timeout_ms: u64) -> RResult<LockGrant, RString> {
        let resolved = match self.resolve(path) {
            RResult::ROk(resolved) => resolved,
            RResult::RErr(message) => return RResult::RErr(message),
        };
        let locked = if timeout_ms == u64::MAX {
            self.lock(path)
        } else {
            self.lock_with_timeout(path, timeout_ms)
        };
        match locked {
            RResult::ROk(token) => RResult::ROk(LockGrant {
                token,
                path: resolved,
            }),
            RResult::RErr(message) => RResult::RErr(message),
        }
    }
}

/// A granted lock: the token to release it with and the path it protects, resolved under the
/// run's root.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct LockGrant {
    /// The token for [`HostServices::unlock`].
    pub token: u64,
    /// The locked path, resolved under the run's root, as raw bytes.
    pub path: RVec<u8>,
}

/// The kind of file access a module made, as recorded for the host's access audit.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AccessKind {
    /// The module read the file's content.
    Read,
    /// The module replaced or changed the file's content.
    Write,
}

/// The host services trait object as it crosses the boundary.
pub type HostServicesBox = HostServices_TO<RArc<()>>;
