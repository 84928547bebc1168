//! Assembly of the module set a command works on: discovery, loading, the duplicate check and
//! the configuration's `enabled` switches.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::loader::{self, DiscoverError, LoadedPlugin, Rejection};
use crate::module::{ModuleCode, ModuleInfo};
use crate::selection::{self, LeftOutReason, Selected, Selection, SelectionError};

/// Errors that make the plugin directory unusable.
#[derive(Debug, thiserror::Error)]
pub enum ModuleSetError {
    /// The plugin directory could not be listed.
    #[error(transparent)]
    Discover(#[from] DiscoverError),

    /// Files could not be loaded and `--skip-broken` was not given.
    #[error("{}", rejected_message(.0))]
    Rejected(Vec<Rejection>),

    /// Two or more files provide the same module name.
    #[error("{}", duplicates_message(.0))]
    Duplicates(Vec<Duplicate>),
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
    /// Loads every `*.so` file of `plugin_dir`, keeping the rejected ones with their reasons.
    pub fn scan(plugin_dir: &Path) -> Result<Self, DiscoverError> {
        let mut plugins = Vec::new();
        let mut rejected = Vec::new();
        for path in loader::discover(plugin_dir)? {
            match loader::load(&path) {
                Ok(plugin) => {
                    tracing::debug!(
                        "loaded {} from {} (version {}, plugin-api {})",
                        plugin.info.name,
                        path.display(),
                        plugin.info.version,
                        plugin.interface_version
                    );
                    plugins.push(plugin);
                }
                Err(rejection) => {
                    tracing::debug!("rejected {}: {}", path.display(), rejection.reason);
                    if let Some(detail) = &rejection.detail {
                        tracing::debug!("loader report for {}:\n{detail}", path.display());
                    }
                    rejected.push(rejection);
                }
            }
        }
        Ok(Self {
            plugin_dir: plugin_dir.to_owned(),
            plugins,
            rejected,
        })
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

        let duplicates = find_duplicates(&self.plugins);
        if !duplicates.is_empty() {
            return Err(ModuleSetError::Duplicates(duplicates));
        }

        let (mut enabled, mut disabled) = (BTreeMap::new(), BTreeMap::new());
        for plugin in self.plugins {
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
    /// Loads and checks every plugin in `plugin_dir`; see [`Discovered::into_module_set`].
    pub fn load(
        plugin_dir: &Path,
        config: &Config,
        skip_broken: bool,
    ) -> Result<Self, ModuleSetError> {
        Discovered::scan(plugin_dir)?.into_module_set(config, skip_broken)
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
                .map(|plugin| {
                    let path = plugin.info.path.clone().unwrap_or_default();
                    (path, plugin.info.version.clone())
                })
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
        text.push_str(&format!(
            "\n  - {}: {}",
            rejection.path.display(),
            rejection.reason
        ));
    }
    text
}

fn duplicates_message(duplicates: &[Duplicate]) -> String {
    let mut text =
        String::from("several plugin files provide the same module; remove all but one:");
    for duplicate in duplicates {
        text.push_str(&format!("\n  - module `{}`:", duplicate.name));
        for (path, version) in &duplicate.files {
            text.push_str(&format!(" {} (version {version})", path.display()));
        }
    }
    text
}
