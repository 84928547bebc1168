//! Assembly of the module set a command works on: discovery through the plugin scanner,
//! loading into the host, the duplicate check with the configuration's version pins, and the
//! configuration's `enabled` switches.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use semver::Version;

use crate::config::Config;
use crate::loader::{self, LoadedPlugin, Rejection, escape_control};
use crate::module::{ModuleCode, ModuleInfo};
use crate::scan::{self, ScanError, ScanOptions};
use crate::selection::{self, LeftOutReason, Selected, Selection, SelectionError};

/// Errors that make the plugin directory unusable.
#[derive(Debug, thiserror::Error)]
pub enum ModuleSetError {
    /// The plugin directory could not be listed or the plugin scanner could not start.
    #[error(transparent)]
    Scan(#[from] ScanError),

    /// Files could not be loaded and `--skip-broken` was not given.
    #[error("{}", rejected_message(.0))]
    Rejected(Vec<Rejection>),

    /// Two or more files provide the same module name.
    #[error("{}", duplicates_message(.0))]
    Duplicates(Vec<Duplicate>),

    /// The configuration pins module versions that no plugin file provides.
    #[error("{}", unsatisfied_pins_message(.0))]
    UnsatisfiedPins(Vec<UnsatisfiedPin>),
}

/// A `version` pin in the configuration that no plugin file satisfies.
#[derive(Debug, Clone)]
pub struct UnsatisfiedPin {
    /// The module name.
    pub name: String,
    /// The pinned version.
    pub pinned: String,
    /// Each file providing the module, with the version it declares.
    pub files: Vec<(PathBuf, String)>,
}

/// Files that provide the same module name.
#[derive(Debug, Clone)]
pub struct Duplicate {
    /// The module name.
    pub name: String,
    /// Each providing file with the version it declares.
    pub files: Vec<(PathBuf, String)>,
}

/// The loaded plugins of a plugin directory, with what was rejected or disabled.
#[derive(Debug)]
pub struct ModuleSet {
    /// The plugin directory.
    pub plugin_dir: PathBuf,
    /// Enabled modules by name.
    pub enabled: BTreeMap<String, LoadedPlugin>,
    /// Modules left out with `enabled = false`.
    pub disabled: BTreeMap<String, LoadedPlugin>,
    /// Files that were not loaded, each with its reason.
    pub rejected: Vec<Rejection>,
}

/// Every file of a plugin directory, loaded or rejected, before any check across files.
#[derive(Debug)]
pub struct Discovered {
    /// The plugin directory.
    pub plugin_dir: PathBuf,
    /// Files that loaded as plugins, in file name order.
    pub plugins: Vec<LoadedPlugin>,
    /// Files that were not loaded, each with its reason.
    pub rejected: Vec<Rejection>,
}

impl Discovered {
    /// Examines every `*.so` file of `plugin_dir` in the plugin scanner, then loads the files
    /// it passed into this process, keeping the rejected ones with their reasons.
    pub fn scan(plugin_dir: &Path, options: &ScanOptions) -> Result<Self, ScanError> {
        let scanned = scan::scan_directory(plugin_dir, options)?;
        let started = Instant::now();
        let mut plugins = Vec::new();
        let mut rejected = scanned.rejected;
        let checked_by_scanner = scanned
            .passed
            .iter()
            .filter(|passed| passed.checked_by_this_executable())
            .count();
        for passed in scanned.passed {
            match loader::load_passed(passed) {
                Ok(plugin) => {
                    tracing::debug!(
                        "loaded {} from {} (version {}, plugin-api {}, sha256 {})",
                        plugin.info.name,
                        plugin.file().display(),
                        plugin.info.version,
                        plugin.interface_version,
                        plugin.sha256.as_deref().unwrap_or("not computed")
                    );
                    plugins.push(plugin);
                }
                Err(rejection) => rejected.push(Rejection {
                    reason: scan::one_line(&rejection.reason),
                    ..rejection
                }),
            }
        }
        tracing::debug!(
            "loaded {} plugin(s) into the host in {:?}; {checked_by_scanner} file(s) without \
             repeating the layout check that the plugin scanner, this executable, ran",
            plugins.len(),
            started.elapsed()
        );
        rejected.sort_by(|a, b| a.path.cmp(&b.path));
        for rejection in &rejected {
            tracing::debug!("rejected {rejection}");
            if let Some(detail) = &rejection.detail {
                tracing::debug!("loader report for {}:\n{detail}", rejection.path.display());
            }
        }
        Ok(Self {
            plugin_dir: plugin_dir.to_owned(),
            plugins,
            rejected,
        })
    }

    /// Applies the `version` pins of `config` to the plugins.
    ///
    /// Returns the index in [`plugins`](Self::plugins) of each plugin that a pin leaves out,
    /// with a note giving the reason, and the pins that no file satisfies.
    pub fn version_pins(&self, config: &Config) -> (BTreeMap<usize, String>, Vec<UnsatisfiedPin>) {
        let mut ignored = BTreeMap::new();
        let mut unsatisfied = Vec::new();
        for (name, pinned) in config.version_pins() {
            let providers: Vec<usize> = (0..self.plugins.len())
                .filter(|&index| self.plugins[index].info.name == name)
                .collect();
            let (matching, others): (Vec<usize>, Vec<usize>) = providers
                .iter()
                .partition(|&&index| same_version(&self.plugins[index].info.version, &pinned));
            if matching.is_empty() {
                unsatisfied.push(UnsatisfiedPin {
                    name: name.clone(),
                    pinned: pinned.to_string(),
                    files: providers
                        .iter()
                        .map(|&index| file_and_version(&self.plugins[index]))
                        .collect(),
                });
                continue;
            }
            for index in others {
                let note = format!("the configuration pins module `{name}` to version {pinned}");
                ignored.insert(index, note);
            }
        }
        (ignored, unsatisfied)
    }

    /// Checks the files as one module set and applies the configuration's `enabled` switches.
    ///
    /// Without `skip_broken`, any rejected file is an error listing every rejected file; with
    /// it, the rejected files are kept in [`ModuleSet::rejected`] for the report. Two files
    /// with one module name are always an error.
    pub fn into_module_set(
        self,
        config: &Config,
        skip_broken: bool,
    ) -> Result<ModuleSet, ModuleSetError> {
        if !self.rejected.is_empty() && !skip_broken {
            return Err(ModuleSetError::Rejected(self.rejected));
        }

        let (ignored, unsatisfied) = self.version_pins(config);
        if !unsatisfied.is_empty() {
            return Err(ModuleSetError::UnsatisfiedPins(unsatisfied));
        }
        let mut plugins = Vec::with_capacity(self.plugins.len());
        for (index, plugin) in self.plugins.into_iter().enumerate() {
            match ignored.get(&index) {
                Some(note) => tracing::info!(
                    "leaving out {} (module {} version {}): {note}",
                    plugin.file().display(),
                    plugin.info.name,
                    plugin.info.version
                ),
                None => plugins.push(plugin),
            }
        }

        let duplicates = find_duplicates(&plugins);
        if !duplicates.is_empty() {
            return Err(ModuleSetError::Duplicates(duplicates));
        }

        let (mut enabled, mut disabled) = (BTreeMap::new(), BTreeMap::new());
        for plugin in plugins {
            let name = plugin.info.name.clone();
            if config.is_enabled(&name) {
                enabled.insert(name, plugin);
            } else {
                tracing::info!("module {name} is disabled by `enabled = false`; leaving it out");
                disabled.insert(name, plugin);
            }
        }
        Ok(ModuleSet {
            plugin_dir: self.plugin_dir,
            enabled,
            disabled,
            rejected: self.rejected,
        })
    }
}

impl ModuleSet {
    /// Loads and checks every plugin in `plugin_dir`; see [`Discovered::scan`] and
    /// [`Discovered::into_module_set`].
    pub fn load(
        plugin_dir: &Path,
        options: &ScanOptions,
        config: &Config,
        skip_broken: bool,
    ) -> Result<Self, ModuleSetError> {
        Discovered::scan(plugin_dir, options)?.into_module_set(config, skip_broken)
    }

    /// Returns the names of the disabled modules.
    pub fn disabled_names(&self) -> BTreeSet<String> {
        self.disabled.keys().cloned().collect()
    }

    /// Returns the metadata of the enabled modules, sorted by name.
    pub fn infos(&self) -> Vec<ModuleInfo> {
        self.enabled
            .values()
            .map(|plugin| plugin.info.clone())
            .collect()
    }

    /// Narrows the enabled modules to what `--only` and `--skip` request, dropping the others
    /// from [`enabled`](Self::enabled), and returns what was added and left out.
    pub fn select(&mut self, selection: &Selection) -> Result<Selected, SelectionError> {
        let selected = selection::select(&self.infos(), &self.disabled_names(), selection)?;
        self.enabled
            .retain(|name, _| selected.modules.contains(name));

        for name in &selected.added_as_dependencies {
            tracing::info!("running module {name} because a module named in --only depends on it");
        }
        for left_out in &selected.left_out {
            if left_out.reason == LeftOutReason::NotSelected {
                tracing::debug!("leaving out module {}: {}", left_out.name, left_out.reason);
            } else {
                tracing::info!("leaving out module {}: {}", left_out.name, left_out.reason);
            }
        }
        Ok(selected)
    }

    /// Returns the enabled modules as the executor takes them.
    pub fn codes(&self) -> BTreeMap<String, &dyn ModuleCode> {
        self.enabled
            .iter()
            .map(|(name, plugin)| (name.clone(), plugin as &dyn ModuleCode))
            .collect()
    }
}

/// Returns whether a module's declared `version` is the pinned one, comparing as semver
/// versions.
fn same_version(declared: &str, pinned: &Version) -> bool {
    Version::parse(declared.trim()).is_ok_and(|version| version == *pinned)
}

fn file_and_version(plugin: &LoadedPlugin) -> (PathBuf, String) {
    let path = plugin.info.path.clone().unwrap_or_default();
    (path, plugin.info.version.clone())
}

fn find_duplicates(loaded: &[LoadedPlugin]) -> Vec<Duplicate> {
    let mut by_name: BTreeMap<&str, Vec<&LoadedPlugin>> = BTreeMap::new();
    for plugin in loaded {
        by_name.entry(&plugin.info.name).or_default().push(plugin);
    }
    by_name
        .into_iter()
        .filter(|(_, plugins)| plugins.len() > 1)
        .map(|(name, plugins)| Duplicate {
            name: name.to_owned(),
            files: plugins
                .iter()
                .map(|plugin| file_and_version(plugin))
                .collect(),
        })
        .collect()
}

fn rejected_message(rejected: &[Rejection]) -> String {
    let mut text = format!(
        "{} file(s) in the plugin directory cannot be loaded as plugins \
         (remove them, or pass --skip-broken to run the rest):",
        rejected.len()
    );
    for rejection in rejected {
        text.push_str(&format!("\n  - {rejection}"));
    }
    text
}

fn duplicates_message(duplicates: &[Duplicate]) -> String {
    let mut text = String::from(
        "several plugin files provide the same module; remove all but one, or pin one version \
         with `version = \"X.Y.Z\"` in the module's [modules.NAME] table:",
    );
    for duplicate in duplicates {
        text.push_str(&format!(
            "\n  - module `{}`: {}",
            duplicate.name,
            files_with_versions(&duplicate.files)
        ));
        let mut versions = duplicate.files.iter().map(|(_, version)| version);
        let first = versions.next();
        if versions.all(|version| Some(version) == first) {
            text.push_str("; a version pin cannot choose between files of one version");
        }
    }
    text
}

/// Lists plugin files with the module version each provides, separated by commas.
fn files_with_versions(files: &[(PathBuf, String)]) -> String {
    files
        .iter()
        .map(|(path, version)| {
            let path = path.display().to_string();
            format!("{} (version {version})", escape_control(&path))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn unsatisfied_pins_message(pins: &[UnsatisfiedPin]) -> String {
    let mut text = String::from("no plugin file provides a module version the configuration pins:");
    for pin in pins {
        text.push_str(&format!(
            "\n  - module `{}` is pinned to version {}, but ",
            pin.name, pin.pinned
        ));
        if pin.files.is_empty() {
            text.push_str("no plugin file provides the module");
            continue;
        }
        text.push_str("the plugin directory has only ");
        text.push_str(&files_with_versions(&pin.files));
    }
    text
}
