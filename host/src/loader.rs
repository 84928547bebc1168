//! Discovery and loading of plugin files.
//!
//! Loading one file into the current process takes these steps:
//!
//! 1. [`discover`] lists the `*.so` entries of the plugin directory, sorted by name.
//! 2. [`load_file`] takes the file already opened and checked by the caller and opens it with
//!    abi_stable's `lib_header_from_path` under the name `/proc/self/fd/N`, so that the library
//!    loaded is the inode the caller checked even if the name is replaced meanwhile. It uses
//!    one library header per file, because abi_stable's `RootModule::load_from_file` would
//!    return the first plugin again for every later file.
//! 3. The interface version the plugin was built against must be one this host accepts
//!    ([`accepted_interface_versions`]): the same major version and a minor version up to this
//!    host's.
//! 4. `init_root_module` checks the layout of [`ModuleLibRef`] against this host's copy of
//!    `plugin-api`. A plugin built against an earlier minor release, whose `ModuleLib` lacks the
//!    fields appended since, is accepted by a second check (see `init_module_lib`). The host
//!    skips this check for a file that the plugin scanner, running this same executable,
//!    already checked ([`load_passed`]), because it costs about as much as the `dlopen` itself.
//! 5. The plugin's `metadata` function is called, then its `after` and `supports_check`
//!    functions when the plugin has them, which plugins built against plugin-api 1.0 do not. A panic in either was caught
//!    on the plugin side and comes back as an error.
//!
//! These steps run library constructors and plugin code, and a damaged file can crash the
//! process that runs them. The host therefore runs them first in the plugin scanner, a helper
//! process (see [`crate::scan`]), and in its own process only for files the scanner passed.
//!
//! Libraries are never unloaded: abi_stable leaks every library it loads on purpose, and a
//! one-shot host has no use for unloading.

use std::fs::{self, File};
use std::io;
use std::os::fd::{AsRawFd as _, IntoRawFd as _};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use abi_stable::StableAbi;
use abi_stable::abi_stability::check_layout_compatibility;
use abi_stable::library::{
    AbiHeaderRef, LibHeader, LibraryError, RootModuleError, abi_header_from_path,
    lib_header_from_path,
};
use abi_stable::std_types::{RResult, RStr, RString};
use plugin_api::ffi::{
    FailureKind, FfiSettingsCheck, HostServicesBox, INTERFACE_VERSION, ModuleLibRef,
};
use semver::Version;
use serde::{Deserialize, Serialize};

use crate::module::{ModuleCode, ModuleInfo, ModuleResult, RunFailure};
use crate::requirement::split_depends_on;
use crate::scan::{CheckedSettings, FileIdentity, PassedFile};
use crate::settings::{KeyProblem, SettingsCheck};

/// Errors that stop discovery as a whole.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    /// The plugin directory does not exist or cannot be listed.
    #[error("cannot read plugin directory {}", path.display())]
    ReadDir {
        /// The plugin directory.
        path: PathBuf,
        /// The I/O failure.
        #[source]
        source: io::Error,
    },
}

/// A file in the plugin directory that could not be loaded as a plugin.
#[derive(Debug, Clone)]
pub struct Rejection {
    /// The rejected file.
    pub path: PathBuf,
    /// One line saying why.
    pub reason: String,
    /// abi_stable's full report, such as a layout comparison, for `-v`.
    pub detail: Option<String>,
}

impl std::fmt::Display for Rejection {
    /// Writes `PATH: REASON` on one line, with control characters escaped in both, because
    /// a file name or a damaged library's symbol name may contain line breaks or terminal
    /// escape sequences.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = self.path.display().to_string();
        write!(
            f,
            "{}: {}",
            escape_control(&path),
            escape_control(&self.reason)
        )
    }
}

/// Returns `text` with each control character written as a Rust escape, such as `\n` or
/// `\u{1b}`.
pub fn escape_control(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let escaped = text
        .chars()
        .map(|ch| {
            if ch.is_control() {
                ch.escape_default().to_string()
            } else {
                ch.to_string()
            }
        })
        .collect();
    std::borrow::Cow::Owned(escaped)
}

/// The metadata a plugin file declares about its module, as the plugin scanner reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginMetadata {
    /// Unique module name.
    pub name: String,
    /// The module's release version.
    pub version: String,
    /// One-line description.
    pub description: String,
    /// The `depends_on` entries as declared, each a module name optionally followed by a
    /// version requirement.
    pub depends_on: Vec<String>,
    /// Modules that must finish first when they are in the run.
    pub after: Vec<String>,
    /// Whether the module runs with no other module running.
    pub force_sequential: bool,
    /// Whether the module supports check mode (`run --check`).
    pub supports_check: bool,
    /// The `plugin-api` version the plugin was built against.
    pub interface_version: String,
}

impl PluginMetadata {
    /// Returns the metadata of a module `name` 1.0.0 built against plugin-api 1.1.0, with no
    /// dependencies, for tests.
    #[cfg(test)]
    pub(crate) fn for_test(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            version: "1.0.0".to_owned(),
            description: String::new(),
            depends_on: Vec::new(),
            after: Vec::new(),
            force_sequential: false,
            supports_check: false,
            interface_version: "1.1.0".to_owned(),
        }
    }

    /// Returns the metadata as planning uses it, naming `path` as the module's file.
    pub fn module_info(&self, path: &Path) -> ModuleInfo {
        let (depends_on, requirements) =
            split_depends_on(self.depends_on.iter().map(String::as_str));
        ModuleInfo {
            name: self.name.clone(),
            version: self.version.clone(),
            description: self.description.clone(),
            depends_on,
            requirements,
            after: self.after.clone(),
            force_sequential: self.force_sequential,
            path: Some(path.to_owned()),
        }
    }
}

/// A plugin loaded into the host, ready to run.
pub struct LoadedPlugin {
    /// What the module says about itself, with the file it came from.
    pub info: ModuleInfo,
    /// The `plugin-api` version the plugin was built against.
    pub interface_version: String,
    /// The SHA-256 of the file's content as lowercase hex, when discovery computed it: for
    /// every file when `list` or `run --report` requests it, else only for pinned modules.
    pub sha256: Option<String>,
    /// Whether the module supports check mode; `false` for plugins built against plugin-api 1.0.
    pub supports_check: bool,
    metadata: PluginMetadata,
    /// The result of the settings check the plugin scanner ran on the module's configured
    /// settings, which the host returns instead of running the plugin's check itself.
    checked_settings: Option<CheckedSettings>,
    /// The header of a plugin whose root module is taken at first use: a file the scanner
    /// checked.
    deferred: Option<AbiHeaderRef>,
    /// The root module, taken at load or, for a file the scanner checked, at first use.
    library: OnceLock<Result<ModuleLibRef, String>>,
}

impl LoadedPlugin {
    /// Returns the metadata as the plugin declared it.
    pub fn metadata(&self) -> &PluginMetadata {
        &self.metadata
    }

    /// Returns the plugin file the module was loaded from.
    pub fn file(&self) -> &Path {
        self.info.path.as_deref().unwrap_or(Path::new("?"))
    }

    /// Returns the plugin's root module, taking it on first use for a file the scanner
    /// checked; the error is the one-line reason it failed.
    fn library(&self) -> Result<ModuleLibRef, String> {
        self.library
            .get_or_init(|| {
                let header = self.deferred.ok_or("the module's library was not loaded")?;
                let failed = |error: LibraryError| {
                    let reason = describe_library_error(&error, Some(&self.interface_version));
                    format!("loading the module failed: {reason}")
                };
                let header = header.upgrade().map_err(failed)?;
                check_interface_version(header.version_strings().version.as_str())
                    .map_err(|reason| format!("loading the module failed: {reason}"))?;
                root_module_checked_by_scanner(header).map_err(failed)
            })
            .clone()
    }
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("info", &self.info)
            .field("interface_version", &self.interface_version)
            .field("sha256", &self.sha256)
            .finish_non_exhaustive()
    }
}

impl ModuleCode for LoadedPlugin {
    fn info(&self) -> &ModuleInfo {
        &self.info
    }

    fn supports_check(&self) -> bool {
        self.supports_check
    }

    /// Returns the plugin scanner's result for these settings, or else calls the plugin's
    /// `check_settings`, which plugins built against plugin-api 1.0 lack: their settings type
    /// is unknown.
    fn check_settings(&self, settings: &str) -> SettingsCheck {
        if let Some(checked) = &self.checked_settings
            && checked.is_for(settings)
        {
            return checked.check.clone();
        }
        // A module that fails to load reports it when it runs.
        let Some(check_settings) = self
            .library()
            .ok()
            .and_then(|library| library.check_settings())
        else {
            return SettingsCheck::Undeclared;
        };
        match check_settings(RStr::from_str(settings)) {
            FfiSettingsCheck::Undeclared => SettingsCheck::Undeclared,
            FfiSettingsCheck::Valid => SettingsCheck::Valid,
            FfiSettingsCheck::Invalid(problems) => SettingsCheck::Invalid(
                problems
                    .into_iter()
                    .map(|problem| KeyProblem {
                        path: problem.path.into(),
                        message: problem.message.into(),
                    })
                    .collect(),
            ),
        }
    }

    fn configure(&self, host: HostServicesBox, settings: &str) -> ModuleResult {
        let library = self.library().map_err(|message| RunFailure {
            panicked: false,
            message,
        })?;
        let configure = library.configure();
        match configure(host, RStr::from_str(settings)) {
            RResult::ROk(outcome) => Ok(outcome.into()),
            RResult::RErr(failure) => Err(RunFailure {
                panicked: failure.kind == FailureKind::Panic,
                message: failure.message.into(),
            }),
        }
    }
}

/// Lists the `*.so` entries of `dir`, sorted by file name, leaving out hidden ones (`.x.so`),
/// which are temporary files of an installation by rename.
///
/// Entries are listed whatever their type, so that a directory, FIFO or dangling symlink named
/// `x.so` is rejected with a reason rather than silently ignored.
pub fn discover(dir: &Path) -> Result<Vec<PathBuf>, DiscoverError> {
    let read_error = |source| DiscoverError::ReadDir {
        path: dir.to_owned(),
        source,
    };
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(read_error)? {
        let path = entry.map_err(read_error)?.path();
        let hidden = path
            .file_name()
            .is_some_and(|name| name.as_encoded_bytes().starts_with(b"."));
        if !hidden && path.extension().is_some_and(|extension| extension == "so") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Loads the plugin file `path` into this process, or returns the one-line reason it is not a
/// usable plugin.
///
/// The file runs code as it loads. Outside the plugin scanner, the host loads only files the
/// scanner passed, through `load_passed`.
pub fn load(path: &Path) -> Result<LoadedPlugin, Rejection> {
    let reject = |reason: String| Rejection {
        path: path.to_owned(),
        reason,
        detail: None,
    };
    if !fs::metadata(path).is_ok_and(|metadata| metadata.is_file()) {
        return Err(reject("not a regular file".to_owned()));
    }
    let file = File::open(path).map_err(|error| reject(format!("cannot be opened: {error}")))?;
    load_file(file, path)
}

/// Loads the plugin in `file`, opened from `path`, into this process, or returns the one-line
/// reason it is not a usable plugin. This runs every check, abi_stable's layout check included,
/// as the plugin scanner does.
///
/// The library is opened as `/proc/self/fd/N`, so it is exactly the inode behind `file`.
/// `file` is kept open for the life of the process, like the library itself: glibc returns an
/// already loaded library for a name it has loaded before, so a later file must never get the
/// same descriptor number and with it the same name.
pub fn load_file(file: File, path: &Path) -> Result<LoadedPlugin, Rejection> {
    load_opened(file, path, LayoutCheck::Full)
}

/// Loads a file the plugin scanner passed into this process, if it is still the inode with the
/// identity the scanner examined, or returns the one-line reason it is not loaded.
///
/// The file is the descriptor discovery opened, so it is not looked up by name again. When the
/// scanner was this same executable, the host repeats neither abi_stable's layout check nor
/// the module's metadata reads, because the scanner ran both on the same inode against the
/// same `ModuleLib` layout. Together they cost about as much as the `dlopen` itself. The
/// root module is taken, after the interface version check, when the host first calls the
/// module.
pub(crate) fn load_passed(passed: PassedFile) -> Result<LoadedPlugin, Rejection> {
    let path = passed.path.clone();
    let reject = |reason: String| Rejection {
        path: path.clone(),
        reason,
        detail: None,
    };
    let check = if passed.checked_by_this_executable() {
        LayoutCheck::DoneByThisScanner(passed.metadata.clone())
    } else {
        LayoutCheck::Full
    };
    let examined = passed.identity;
    let sha256 = passed.sha256.clone();
    let checked_settings = passed.settings.clone();
    let file = passed.into_file();
    let identity = file
        .metadata()
        .map(|metadata| FileIdentity::of(&metadata))
        .map_err(|error| reject(format!("cannot be inspected: {error}")))?;
    if identity != examined {
        return Err(reject(
            "changed after the plugin scanner examined it; run configurator again".to_owned(),
        ));
    }
    let mut plugin = load_opened(file, &path, check)?;
    plugin.sha256 = sha256;
    plugin.checked_settings = checked_settings;
    Ok(plugin)
}

/// Whether loading runs abi_stable's layout check of the root module and reads the module's
/// metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
enum LayoutCheck {
    /// Run both, with the second check with the roles swapped for an earlier release.
    Full,
    /// Skip both and take the metadata the scanner read: only [`load_passed`] chooses this,
    /// for a file opened by discovery whose identity is still the one that a plugin scanner
    /// running this same executable passed.
    DoneByThisScanner(PluginMetadata),
}

fn load_opened(file: File, path: &Path, check: LayoutCheck) -> Result<LoadedPlugin, Rejection> {
    let reject = |reason: String, detail: Option<String>| Rejection {
        path: path.to_owned(),
        reason,
        detail,
    };
    let descriptor_path = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
    // Intentionally leaked: see the documentation of `load_file`.
    let _ = file.into_raw_fd();
    // The dynamic loader names the library by the name it was opened with, which only means
    // something inside this process.
    let reject_library_error = |error: LibraryError| {
        let descriptor_name = descriptor_path.display().to_string();
        let file_name = path.display().to_string();
        let reason = replace_name(
            &describe_library_error(&error, None),
            &descriptor_name,
            &file_name,
        );
        let detail = replace_name(&error.to_string(), &descriptor_name, &file_name);
        reject(reason, Some(detail))
    };

    if let LayoutCheck::DoneByThisScanner(metadata) = check {
        // Opening the library runs its constructors, but none of the module's functions is
        // called until the module is first used, which building a plan or a listing never
        // does: only its header is found here.
        let header = abi_header_from_path(&descriptor_path).map_err(reject_library_error)?;
        return Ok(LoadedPlugin {
            info: metadata.module_info(path),
            interface_version: metadata.interface_version.clone(),
            sha256: None,
            supports_check: metadata.supports_check,
            metadata,
            checked_settings: None,
            deferred: Some(header),
            library: OnceLock::new(),
        });
    }
    let header = lib_header_from_path(&descriptor_path).map_err(reject_library_error)?;
    let built_against = header.version_strings().version.to_string();
    check_interface_version(&built_against).map_err(|reason| reject(reason, None))?;
    let root = init_module_lib(header).map_err(|error| {
        let reason = describe_library_error(&error, Some(&built_against));
        reject(reason, Some(error.to_string()))
    })?;
    let metadata = read_metadata(&root, built_against).map_err(|reason| reject(reason, None))?;
    Ok(LoadedPlugin {
        info: metadata.module_info(path),
        interface_version: metadata.interface_version.clone(),
        sha256: None,
        supports_check: metadata.supports_check,
        metadata,
        checked_settings: None,
        deferred: None,
        library: OnceLock::from(Ok(root)),
    })
}

/// Builds the module of a loaded plugin by reading its metadata, `after` and check mode
/// support, or returns the one-line reason it failed.
fn read_metadata(library: &ModuleLibRef, built_against: String) -> Result<PluginMetadata, String> {
    let metadata = match library.metadata()() {
        RResult::ROk(metadata) => metadata,
        RResult::RErr(message) => return Err(format!("building the module failed: {message}")),
    };
    if metadata.name.trim().is_empty() {
        return Err("the module has an empty name".to_owned());
    }
    let after = read_after(library)
        .map_err(|message| format!("reading the module's `after` list failed: {message}"))?;
    let supports_check = read_supports_check(library).map_err(|message| {
        format!("asking the module whether it supports check mode failed: {message}")
    })?;
    Ok(PluginMetadata {
        name: metadata.name.into(),
        version: metadata.version.into(),
        description: metadata.description.into(),
        depends_on: metadata.depends_on.into_iter().map(String::from).collect(),
        after,
        force_sequential: metadata.force_sequential,
        supports_check,
        interface_version: built_against,
    })
}

/// Replaces each whole occurrence of the file name `from` in `text` with `to`: one that no
/// further digit follows, so that `/proc/self/fd/7` does not match in `/proc/self/fd/70`.
fn replace_name(text: &str, from: &str, to: &str) -> String {
    let mut replaced = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(from) {
        let end = start + from.len();
        let whole = !rest[end..].starts_with(|next: char| next.is_ascii_digit());
        replaced.push_str(&rest[..start]);
        replaced.push_str(if whole { to } else { from });
        rest = &rest[end..];
    }
    replaced.push_str(rest);
    replaced
}

/// Describes the interface versions this host loads plugins of, such as
/// `1.x from 1.0 up to 1.1`.
///
/// A plugin built against a later minor release than the host's may call host services this
/// host lacks. So the host accepts minor releases up to its own only, although abi_stable's
/// layout check alone would accept a plugin whose interface has more fields.
pub fn accepted_interface_versions() -> String {
    let host = host_interface_version();
    if host.major == 0 {
        format!(
            "0.{minor}.x from 0.{minor}.0 up to 0.{minor}.{patch}",
            minor = host.minor,
            patch = host.patch
        )
    } else {
        format!(
            "{major}.x from {major}.0 up to {major}.{minor}",
            major = host.major,
            minor = host.minor
        )
    }
}

fn host_interface_version() -> Version {
    Version::parse(INTERFACE_VERSION).expect("plugin-api's package version is a semver version")
}

/// Checks that this host accepts plugins built against plugin-api `built_against`.
///
/// The rule is Cargo's compatibility rule capped at the host's own release. From 1.0 on, the
/// major version must be the host's and the minor version at most the host's. Before 1.0, the
/// minor version must be the host's and the patch version at most the host's.
fn check_interface_version(built_against: &str) -> Result<(), String> {
    let host = host_interface_version();
    let plugin = Version::parse(built_against).map_err(|error| {
        format!("it declares an unreadable interface version `{built_against}`: {error}")
    })?;
    let accepted = if host.major == 0 {
        plugin.major == 0 && plugin.minor == host.minor && plugin.patch <= host.patch
    } else {
        plugin.major == host.major && plugin.minor <= host.minor
    };
    if accepted {
        return Ok(());
    }
    Err(format!(
        "built against plugin-api {built_against}, but this host (plugin-api {INTERFACE_VERSION}) \
         accepts plugins built against plugin-api {}; rebuild the plugin against a plugin-api in \
         that range",
        accepted_interface_versions()
    ))
}

/// Checks the plugin's interface version and the layout of its root module, and returns the
/// root module.
///
/// abi_stable's check (`init_root_module`, abi_stable 0.11.3) rejects a plugin whose
/// `ModuleLib` has fewer fields than this host's with "too many fields", so on its own it would
/// reject every plugin built against an earlier minor release of plugin-api. When that check
/// fails on the layout, this runs it again with the roles swapped: it passes when the plugin's
/// `ModuleLib` matches the start of this host's field for field, which is what appending
/// fields after `#[sabi(last_prefix_field)]` guarantees. Any other mismatch still fails both
/// ways and is reported with the first check's error.
fn init_module_lib(header: &'static LibHeader) -> Result<ModuleLibRef, LibraryError> {
    let error = match header.init_root_module::<ModuleLibRef>() {
        Ok(library) => return Ok(library),
        Err(error @ LibraryError::AbiInstability(_)) => error,
        Err(error) => return Err(error),
    };
    let Some(plugin_layout) = header.layout() else {
        return Err(error);
    };
    let host_layout = <ModuleLibRef as StableAbi>::LAYOUT;
    if check_layout_compatibility(plugin_layout, host_layout).is_err() {
        return Err(error);
    }
    tracing::debug!(
        "the plugin's module interface is an earlier release of this host's; the fields it \
         lacks take their defaults"
    );
    root_module_of_earlier_release(header)
}

/// Returns the root module of a plugin whose `ModuleLib` was checked to be a prefix of this
/// host's.
#[expect(
    unsafe_code,
    reason = "abi_stable offers no safe way to use a root module checked by the caller"
)]
fn root_module_of_earlier_release(
    header: &'static LibHeader,
) -> Result<ModuleLibRef, LibraryError> {
    // SAFETY: `unchecked_layout` requires that the plugin's root module has the layout of
    // `ModuleLibRef`. `init_module_lib` got a layout error from `init_root_module`, which
    // checks the interface version first, so the version passed. It then checked that each
    // field of the plugin's `ModuleLib` has the name and layout of the host's field at the
    // same position. The host never reads a field the plugin lacks directly: every field
    // after `#[sabi(last_prefix_field)]` is read through an accessor that consults the field
    // count stored in the plugin's own prefix metadata and returns `None` for a missing field
    // (`#[sabi(missing_field(option))]`).
    unsafe { header.unchecked_layout::<ModuleLibRef>() }
        .map_err(RootModuleError::into_library_error::<ModuleLibRef>)
}

/// Returns the root module of a plugin whose layout the plugin scanner checked, after
/// abi_stable's own version check (`init_root_module_with_unchecked_layout`, abi_stable 0.11.3).
#[expect(
    unsafe_code,
    reason = "abi_stable offers no safe way to use a root module whose layout was checked before"
)]
fn root_module_checked_by_scanner(
    header: &'static LibHeader,
) -> Result<ModuleLibRef, LibraryError> {
    // SAFETY: `init_root_module_with_unchecked_layout` requires that the plugin's root module
    // has the layout of `ModuleLibRef`. Only `LoadedPlugin::library` gets here, for a plugin
    // whose root module `load_opened` did not take at load. It leaves it so only for a file
    // `load_passed` loaded with `LayoutCheck::DoneByThisScanner`, and these facts hold:
    // - A plugin scanner ran the full check (`init_module_lib`) on this file and passed it,
    //   either directly or, for a plugin built against an earlier 1.x plugin-api, with the
    //   roles swapped. The second case ends in `unchecked_layout` there as well, and the
    //   fields the plugin lacks are read through accessors that return `None`.
    // - That scanner was this executable, so it checked against this process's `ModuleLib`.
    //   `scan::ScannerProgram` starts it as /proc/self/exe only when the configured scanner
    //   is the running executable's inode. A cached verdict counts only when the cache stamp
    //   names this executable as both host and scanner (`scan::cache`).
    // - Under the strict trust policy the cache file is read only when no other user could
    //   have written it. Without the policy, anyone who could forge the cache could replace a
    //   plugin file as well.
    // - The file is that inode. Discovery opened it once, and the scanner reported the same
    //   device, inode, size and modification and status-change times for the file it loaded
    //   (or the cache entry has them). `load_passed` found them unchanged on the descriptor,
    //   and `load_opened` loads it through that descriptor as /proc/self/fd/N. Writing to
    //   the file changes those times.
    unsafe { header.init_root_module_with_unchecked_layout::<ModuleLibRef>() }
}

/// Calls the plugin's `after`, which plugins built against plugin-api 1.0 lack: for them the
/// list is empty.
fn read_after(library: &ModuleLibRef) -> Result<Vec<String>, RString> {
    let Some(after) = library.after() else {
        return Ok(Vec::new());
    };
    match after() {
        RResult::ROk(names) => Ok(names.into_iter().map(String::from).collect()),
        RResult::RErr(message) => Err(message),
    }
}

/// Calls the plugin's `supports_check`, which plugins built against plugin-api 1.0 lack: they
/// do not support check mode.
fn read_supports_check(library: &ModuleLibRef) -> Result<bool, RString> {
    let Some(supports_check) = library.supports_check() else {
        return Ok(false);
    };
    supports_check().into_result()
}

/// Turns abi_stable's loading error into one line an operator can act on.
fn describe_library_error(error: &LibraryError, built_against: Option<&str>) -> String {
    let host_version = INTERFACE_VERSION;
    match error {
        LibraryError::OpenError { path, err } => {
            // dlerror's text repeats the path; the rejection names the file already.
            let text = err.to_string();
            let prefix = format!("{}: ", path.display());
            let cause = text.rsplit(prefix.as_str()).next().unwrap_or(&text);
            format!("not a loadable shared library: {cause}")
        }
        LibraryError::GetSymbolError { .. } => {
            "not a Configurator plugin: it exports no abi_stable root module".to_owned()
        }
        LibraryError::IncompatibleVersionNumber { actual_version, .. } => format!(
            "built against plugin-api {actual_version}, but this host (plugin-api \
             {host_version}) accepts plugins built against plugin-api {}; rebuild the plugin \
             against a plugin-api in that range",
            accepted_interface_versions()
        ),
        LibraryError::AbiInstability(_) => format!(
            "its module interface does not match this host's: built against plugin-api {}, \
             whose layout differs from this host's (plugin-api {host_version}, which accepts \
             plugins built against plugin-api {}; run with -v for the layout comparison)",
            built_against.unwrap_or("of unknown version"),
            accepted_interface_versions()
        ),
        LibraryError::InvalidAbiHeader(_) | LibraryError::InvalidCAbi { .. } => {
            "built with an incompatible abi_stable release; rebuild it with this host's plugin-api"
                .to_owned()
        }
        LibraryError::RootModule { err, .. } => {
            format!("the plugin failed to initialize: {err}")
        }
        LibraryError::ParseVersionError(err) => {
            format!("the plugin declares an unreadable interface version: {err}")
        }
        LibraryError::Many(errors) => errors
            .iter()
            .map(|error| describe_library_error(error, built_against))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_accepts_its_own_and_earlier_minor_releases() {
        let host = host_interface_version();
        check_interface_version(INTERFACE_VERSION).unwrap();
        check_interface_version(&format!("{}.0.0", host.major)).unwrap();
        check_interface_version(&format!("{}.{}.99", host.major, host.minor)).unwrap();
    }

    #[test]
    fn later_minor_and_other_major_are_rejected() {
        let host = host_interface_version();
        for rejected in [
            format!("{}.{}.0", host.major, host.minor + 1),
            format!("{}.0.0", host.major + 1),
            "0.9.0".to_owned(),
        ] {
            let reason = check_interface_version(&rejected).unwrap_err();
            assert!(
                reason.contains(&format!("built against plugin-api {rejected}")),
                "{reason}"
            );
            assert!(reason.contains(&accepted_interface_versions()), "{reason}");
        }
    }

    #[test]
    fn unreadable_interface_version_is_rejected() {
        let reason = check_interface_version("one point oh").unwrap_err();
        assert!(reason.contains("unreadable interface version"), "{reason}");
    }

    #[test]
    fn accepted_versions_name_the_range() {
        let host = host_interface_version();
        assert_eq!(
            accepted_interface_versions(),
            format!(
                "{major}.x from {major}.0 up to {major}.{minor}",
                major = host.major,
                minor = host.minor
            )
        );
    }

    #[test]
    fn descriptor_name_is_replaced_by_file_name() {
        let text = "version `GCC_3.3' not found (required by /proc/self/fd/7)";
        assert_eq!(
            replace_name(text, "/proc/self/fd/7", "/opt/plugins/x.so"),
            "version `GCC_3.3' not found (required by /opt/plugins/x.so)"
        );
    }

    #[test]
    fn longer_descriptor_name_is_kept() {
        let text = "required by /proc/self/fd/70 and /proc/self/fd/7";
        assert_eq!(
            replace_name(text, "/proc/self/fd/7", "x.so"),
            "required by /proc/self/fd/70 and x.so"
        );
    }

    #[test]
    fn discover_lists_visible_so_entries_sorted() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.so", "a.so", ".hidden.so", "notes.txt", "c.so.new"] {
            fs::write(dir.path().join(name), "").unwrap();
        }
        fs::create_dir(dir.path().join("d.so")).unwrap();

        let files = discover(dir.path()).unwrap();

        let names: Vec<_> = files
            .iter()
            .map(|path| path.file_name().unwrap().to_str().unwrap())
            .collect();
        assert_eq!(names, ["a.so", "b.so", "d.so"]);
    }

    #[test]
    fn rejection_line_escapes_control_characters() {
        let rejection = Rejection {
            path: PathBuf::from("/p/bad\nfake.so: fine.so"),
            reason: "symbol \u{1b}[31mred".to_owned(),
            detail: None,
        };

        assert_eq!(
            rejection.to_string(),
            "/p/bad\\nfake.so: fine.so: symbol \\u{1b}[31mred"
        );
    }

    #[test]
    fn missing_file_is_not_a_regular_file() {
        let rejection = load(Path::new("/nonexistent/plugin.so")).unwrap_err();
        assert_eq!(rejection.reason, "not a regular file");
    }
}
