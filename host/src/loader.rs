//! Discovery and loading of plugin files.
//!
//! Loading one file takes these steps:
//!
//! 1. [`discover`] lists the `*.so` files of the plugin directory, sorted by name.
//! 2. [`load`] opens the file with abi_stable's `lib_header_from_path`, one library header per
//!    file, because abi_stable's `RootModule::load_from_file` would return the first plugin
//!    again for every later file.
//! 3. `init_root_module` checks the interface version and the layout of [`ModuleLibRef`]
//!    against this host's copy of `plugin-api`.
//! 4. The plugin's `metadata` function is called; a panic there was caught on the plugin side
//!    and comes back as an error.
//!
//! Libraries are never unloaded: abi_stable leaks every library it loads on purpose, and a
//! one-shot host has no use for unloading.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use abi_stable::library::{LibraryError, lib_header_from_path};
use abi_stable::std_types::{RResult, RStr};
use plugin_api::ffi::{FailureKind, HostServicesBox, INTERFACE_VERSION, ModuleLibRef};

use crate::module::{ModuleCode, ModuleInfo, ModuleResult, RunFailure};

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
    let library = header.init_root_module::<ModuleLibRef>().map_err(|error| {
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

    Ok(LoadedPlugin {
        info: ModuleInfo {
            name: metadata.name.into(),
            version: metadata.version.into(),
            description: metadata.description.into(),
            depends_on: metadata.depends_on.into_iter().map(String::from).collect(),
            force_sequential: metadata.force_sequential,
            path: Some(path.to_owned()),
        },
        interface_version: built_against,
        library,
    })
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
