//! The command-line interface definition.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use configurator::config::{SECONDS_EXPECTED, parse_seconds};
use configurator::execute::Schedule;
use configurator::selection::Selection;

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

    /// Format of the log lines on stderr: `text` for people, `json` for log shippers (one JSON
    /// object per line, with a module's own messages carrying its name in the `module` field).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

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
    /// Print the module graph in Graphviz DOT, one rank per batch, without running anything.
    Graph(GraphArgs),
    /// List every plugin in the plugin directory with its metadata.
    List(ListArgs),
    /// Show the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print the completion script for a shell to stdout.
    Completions(CompletionsArgs),
    /// Print the man page of configurator, or of one command, in roff to stdout (view it with
    /// `configurator man | man -l -`).
    Man(ManArgs),
    /// The plugin scanner: load the plugin files named on stdin and report on stdout. The host
    /// runs this itself.
    #[command(name = "__scan", hide = true)]
    Scan,
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

    /// Load plugin files even when their owner or permissions would let another user replace
    /// them; for development only (the configuration's `[trust] strict = false` does the same).
    #[arg(long)]
    pub insecure_plugins: bool,
}

/// Options that narrow the module set of `run`, `plan` and `graph`.
#[derive(Debug, Args)]
pub struct SelectionArgs {
    /// Select only these modules and every module they depend on, directly or not
    /// (comma-separated, or repeat the option).
    #[arg(long, value_name = "MODULE", value_delimiter = ',')]
    pub only: Vec<String>,

    /// Leave out these modules and every module that depends on them, directly or not
    /// (comma-separated, or repeat the option).
    #[arg(long, value_name = "MODULE", value_delimiter = ',')]
    pub skip: Vec<String>,
}

impl SelectionArgs {
    /// Returns the selection these options request.
    pub fn selection(&self) -> Selection {
        Selection {
            only: self.only.clone(),
            skip: self.skip.clone(),
        }
    }
}

/// Options of `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub common: Common,

    #[command(flatten)]
    pub selection: SelectionArgs,

    /// Directory that every path a module touches resolves under.
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,

    /// Worker threads [default: `jobs` from the configuration, else the available parallelism].
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<NonZeroUsize>,

    /// The order in which modules start.
    #[arg(long, value_enum, default_value_t = ScheduleChoice::Batches)]
    pub schedule: ScheduleChoice,

    /// Start ready modules in a random order drawn from SEED, or from a random seed that the
    /// run prints, to expose modules that assume an order they never declared.
    #[arg(
        long,
        value_name = "SEED",
        num_args = 0..=1,
        require_equals = true
    )]
    pub shuffle: Option<Option<u64>>,

    /// Start no new module after the first module failed or timed out; running modules
    /// finish, and the rest are reported as not started.
    #[arg(long)]
    pub fail_fast: bool,

    /// Seconds a module may run before it is reported as timed out and abandoned; fractions
    /// are allowed, and a number too large for the clock, such as 1e20, means no limit. A
    /// module's own `timeout` setting takes precedence.
    #[arg(long, value_name = "SECS", value_parser = parse_timeout)]
    pub timeout: Option<Duration>,

    /// Seconds a module's file_lock may wait before it fails, naming the holder [default:
    /// `lock_timeout` from the configuration, else 600].
    #[arg(long, value_name = "SECS", value_parser = parse_timeout)]
    pub lock_timeout: Option<Duration>,

    /// Record every file access modules make through their context and report reads of files
    /// another module wrote without a dependency on it, and unlocked concurrent writes.
    #[arg(long)]
    pub audit: bool,

    /// Dry run: run the modules that support check mode without letting them write, and report
    /// what they would change; skip the others. Nothing under the root changes.
    #[arg(long)]
    pub check: bool,

    /// Print a unified diff of every file a module changed, or with --check would change,
    /// after the recap; coloured when stdout is a terminal.
    #[arg(long)]
    pub diff: bool,

    /// Output format of the recap and the audit.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Write a JSON report of the run to FILE, replacing it atomically. It lists the plugins'
    /// versions and SHA-256, the plan, and each module's status, times, thread, changed files
    /// and lock waits. Its schema is docs/report-schema.json.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

    /// Draw the run as a timeline to FILE, replacing it atomically: an SVG image, or an HTML
    /// page around it when FILE ends in .html. It has one row per worker thread, one bar per
    /// module coloured by status, the batch boundaries and the critical path.
    #[arg(long, value_name = "FILE")]
    pub timeline: Option<PathBuf>,
}

/// The schedules of `run --schedule`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScheduleChoice {
    /// Batch after batch; a batch starts when the whole previous batch has finished.
    Batches,
    /// Each module as soon as the modules it waits for have finished.
    Eager,
}

impl From<ScheduleChoice> for Schedule {
    fn from(choice: ScheduleChoice) -> Self {
        match choice {
            ScheduleChoice::Batches => Schedule::Batches,
            ScheduleChoice::Eager => Schedule::Eager,
        }
    }
}

fn parse_timeout(text: &str) -> Result<Duration, String> {
    parse_seconds(text).map_err(|reason| format!("`{text}` is {reason}; {SECONDS_EXPECTED}"))
}

/// Options of `plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub common: Common,

    #[command(flatten)]
    pub selection: SelectionArgs,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Options of `graph`.
#[derive(Debug, Args)]
pub struct GraphArgs {
    #[command(flatten)]
    pub common: Common,

    #[command(flatten)]
    pub selection: SelectionArgs,
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

/// Formats of the log lines on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One line per event for people, coloured on a terminal.
    Text,
    /// One JSON object per event, with a timestamp, the level and the fields.
    Json,
}

/// Output formats of `plan` and `list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned text for people.
    Text,
    /// JSON for programs.
    Json,
}

/// The subcommands of `config`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration as TOML: the file's settings and the defaults that
    /// apply, each module's table with its `enabled` and `timeout`.
    Show(ConfigShowArgs),
}

/// Options of `config show`.
#[derive(Debug, Args)]
pub struct ConfigShowArgs {
    /// Directory of plugin `.so` files, shown as `plugin_dir` [default: `plugin_dir` from the
    /// configuration, else /usr/lib/configurator/modules].
    #[arg(long, value_name = "DIR")]
    pub plugins: Option<PathBuf>,

    /// Configuration file [default: /etc/configurator/configurator.toml when it exists].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// Options of `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to write the script for. Install it where the shell looks, for example
    /// /usr/share/bash-completion/completions/configurator for bash.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Options of `man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// The command whose page to print, such as `run` (page configurator-run) or `config show`
    /// (page configurator-config-show); without it, the page of configurator itself.
    #[arg(value_name = "COMMAND")]
    pub command: Vec<String>,
}
