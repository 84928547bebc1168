//! Discovery and loading of plugin files.
//!
//! Loading one file takes these steps:
//!
//! 1. [`discover`] lists the `*.so` files of the plugin directory, sorted by name.
//! 2. [`load`] opens the file with abi_stable's `lib_header_from_path`, one library header per
//!    file, because abi_stable's `RootModule::load_from_file` would return the first plugin
//!    again for every later file.
//! 3. `init_root_module` checks the interface version and the layout of [`ModuleLibRef`]
//!    against this host's copy of `plugin-api`. A plugin built against an earlier minor
//!    release, whose `ModuleLib` lacks the fields appended since, is accepted by a second
//!    check (see `init_module_lib`).
//! 4. The plugin's `metadata` function is called, then its `after` function when the plugin
//!    has one, which plugins built against plugin-api 1.0 do not. A panic in either was caught
//!    on the plugin side and comes back as an error.
//!
//! Libraries are never unloaded: abi_stable leaks every library it loads on purpose, and a
//! one-shot host has no use for unloading.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use abi_stable::StableAbi;
use abi_stable::abi_stability::check_layout_compatibility;
use abi_stable::library::{LibHeader, LibraryError, RootModuleError, lib_header_from_path};
use abi_stable::std_types::{RResult, RStr, RString};
use plugin_api::ffi::{FailureKind, HostServicesBox, INTERFACE_VERSION, ModuleLibRef};

use crate::module::{ModuleCode, ModuleInfo, ModuleResult, RunFailure};
use crate::requirement::split_depends_on;

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

/// A plugin loaded into the host, ready to run.
pub struct LoadedPlugin {
    /// What the module says about itself, with the file it came from.
    pub info: ModuleInfo,
    /// The `plugin-api` version the plugin was built against.
    pub interface_version: String,
    library: ModuleLibRef,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("info", &self.info)
            .field("interface_version", &self.interface_version)
            .finish_non_exhaustive()
    }
}

impl ModuleCode for LoadedPlugin {
    fn info(&self) -> &ModuleInfo {
        &self.info
    }

    fn configure(&self, host: HostServicesBox, settings: &str) -> ModuleResult {
        let configure = self.library.configure();
        match configure(host, RStr::from_str(settings)) {
            RResult::ROk(outcome) => Ok(outcome.into()),
            RResult::RErr(failure) => Err(RunFailure {
                panicked: failure.kind == FailureKind::Panic,
                message: failure.message.into(),
            }),
        }
    }
}

/// Lists the `*.so` entries of `dir`, sorted by file name.
///
/// Entries are listed whatever their type, so that a directory or dangling symlink named
/// `x.so` is reported by [`load`] rather than silently ignored.
pub fn discover(dir: &Path) -> Result<Vec<PathBuf>, DiscoverError> {
    let read_error = |source| DiscoverError::ReadDir {
        path: dir.to_owned(),
        source,
    };
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(read_error)? {
        let path = entry.map_err(read_error)?.path();
        if path.extension().is_some_and(|extension| extension == "so") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Loads one plugin file, or says in one line why it is not a usable plugin.
pub fn load(path: &Path) -> Result<LoadedPlugin, Rejection> {
    let reject = |reason: String, detail: Option<String>| Rejection {
        path: path.to_owned(),
        reason,
        detail,
    };

    if !path.is_file() {
        return Err(reject("not a regular file".to_owned(), None));
    }

    let header = lib_header_from_path(path).map_err(|error| {
        let reason = describe_library_error(&error, None);
        reject(reason, Some(error.to_string()))
    })?;
    let built_against = header.version_strings().version.to_string();
    let library = init_module_lib(header).map_err(|error| {
        let reason = describe_library_error(&error, Some(&built_against));
        reject(reason, Some(error.to_string()))
    })?;

    let metadata = match library.metadata()() {
        RResult::ROk(metadata) => metadata,
        RResult::RErr(message) => {
            return Err(reject(
                format!("building the module failed: {message}"),
                None,
            ));
        }
    };
    if metadata.name.trim().is_empty() {
        return Err(reject("the module has an empty name".to_owned(), None));
    }
    let after = read_after(&library).map_err(|message| {
        reject(
            format!("reading the module's `after` list failed: {message}"),
            None,
        )
    })?;

    let (depends_on, requirements) =
        split_depends_on(metadata.depends_on.iter().map(RString::as_str));
    Ok(LoadedPlugin {
        info: ModuleInfo {
            name: metadata.name.into(),
            version: metadata.version.into(),
            description: metadata.description.into(),
            depends_on,
            requirements,
            after,
            force_sequential: metadata.force_sequential,
            path: Some(path.to_owned()),
        },
        interface_version: built_against,
        library,
    })
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
            "built against plugin-api {actual_version}, but this host uses plugin-api \
             {host_version}; rebuild the plugin against a compatible plugin-api"
        ),
        LibraryError::AbiInstability(_) => format!(
            "its module interface does not match this host's: built against plugin-api {}, \
             this host uses plugin-api {host_version} (run with -v for the layout comparison)",
            built_against.unwrap_or("of unknown version")
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
