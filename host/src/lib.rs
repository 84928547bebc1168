//! The Configurator host: loads configuration-module plugins, plans dependency batches and runs
//! them in parallel with host-mediated file locks.
//!
//! A run flows through these modules in order. [`config`] reads the configuration file.
//! [`scan`] examines the plugin files in a helper process, with [`trust`] deciding which files
//! may be loaded at all; [`loader`] and [`modules`] load the files that passed, and
//! [`selection`] applies `--only` and `--skip`. [`plan`] resolves dependencies into batches,
//! with [`requirement`] checking their versions. [`execute`] runs the batches with [`services`] and [`locks`]
//! behind each module's context, [`changes`] records the file changes of `run --check` and
//! `run --diff`, and [`output`] renders the plan, the recap and the diffs. [`explain`]
//! and [`dot`] describe a plan for `configurator plan` and `configurator graph`. Start with
//! [`execute::execute`] for the run itself, or [`module::ModuleCode`] for the host's view of a
//! module.

pub mod audit;
pub mod changes;
pub mod config;
pub mod deadline;
pub mod dot;
pub mod execute;
pub mod explain;
pub mod loader;
pub mod locks;
pub mod module;
pub mod modules;
pub mod output;
pub mod paths;
pub mod plan;
pub mod requirement;
pub mod scan;
pub mod selection;
pub mod services;
pub mod settings;
pub mod trust;
