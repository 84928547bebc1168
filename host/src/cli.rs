//! The command-line interface definition.

use std::num::NonZeroUsize;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Applies system configuration by running drop-in module plugins in parallel.
#[derive(Debug, Parser)]
#[command(name = "configurator", version, propagate_version = true)]
pub struct Cli {
    /// Show more detail on stderr: -v for debug messages and loader reports, -vv for trace.
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Show only warnings and errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load the plugins, plan the batches and run every enabled module.
    Run(RunArgs),
    /// Print the batches a run would execute, without running anything.
    Plan(PlanArgs),
    /// List every plugin in the plugin directory with its metadata.
    List(ListArgs),
}

/// Options that select the plugins and configuration.
#[derive(Debug, Args)]
pub struct Common {
    /// Directory of plugin `.so` files [default: `plugin_dir` from the configuration, else
    /// /usr/lib/configurator/modules].
    #[arg(long, value_name = "DIR")]
    pub plugins: Option<PathBuf>,

    /// Configuration file [default: /etc/configurator/configurator.toml when it exists].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Leave out plugin files that cannot be loaded instead of stopping; they are listed at the
    /// end.
    #[arg(long)]
    pub skip_broken: bool,
}

/// Options of `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub common: Common,

    /// Directory that every path a module touches resolves under.
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,

    /// Worker threads [default: `jobs` from the configuration, else the available parallelism].
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<NonZeroUsize>,
}

/// Options of `plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub common: Common,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Options of `list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub common: Common,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Output formats of `plan` and `list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned text for people.
    Text,
    /// JSON for programs.
    Json,
}
