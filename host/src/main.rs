//! The `configurator` binary: parses the command line, runs one command and maps its result to
//! an exit status.
//!
//! Exit statuses:
//!
//! - 0: every module succeeded.
//! - 1: a module failed, timed out, was skipped (other than by `--check` for lacking check
//!   support) or was not started.
//! - 2: the invocation, the configuration or the module set is invalid, and nothing ran.
//! - 130: SIGINT, SIGTERM or SIGHUP interrupted a run, which still prints its recap.

mod cli;
mod manual;
mod progress;
mod show;

use std::io::{self, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use anyhow::{Context as _, bail};
use clap::Parser as _;
use configurator::audit::{self, AccessLog};
use configurator::changes::ChangeLog;
use configurator::config::Config;
use configurator::dot;
use configurator::execute::{self, Interrupt, RunOptions};
use configurator::explain;
use configurator::loader::LoadedPlugin;
use configurator::locks::LockWaitLog;
use configurator::module::ModuleCode;
use configurator::modules::{Discovered, ModuleSet, ModuleSetError};
use configurator::output::{self, PlanDocument};
use configurator::plan::{self, Plan, PlanProblem};
use configurator::scan::{ExamineError, ScanError, ScanOptions};
use configurator::settings;
use serde::Serialize;
use tracing::level_filters::LevelFilter;

use crate::cli::{
    Cli, Command, Common, ConfigCommand, ConfigShowArgs, Format, GraphArgs, ListArgs, LogFormat,
    PlanArgs, RunArgs,
};

/// How long a lock request waits unless `--lock-timeout` or `lock_timeout` sets another.
/// Deadlocks between modules of one run are detected at once; this bounds the waits the host
/// cannot see through, such as two processes locking two files in opposite order.
const DEFAULT_LOCK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// Upper limit of `--jobs`: more threads than this only cost memory and start-up time.
const MAX_JOBS: usize = 1024;

/// Where the sidecar lock files live, below the root, unless `lock_dir` sets another.
const DEFAULT_LOCK_DIR: &str = "/run/configurator/locks";

/// Every module succeeded.
const EXIT_SUCCESS: u8 = 0;
/// A module failed, timed out, was skipped or was not started.
const EXIT_MODULE_FAILED: u8 = 1;
/// Invalid invocation, configuration or module set; nothing ran.
const EXIT_INVALID: u8 = 2;
/// A signal interrupted the run: 128 plus SIGINT's number, as shells report Ctrl-C.
const EXIT_INTERRUPTED: u8 = 130;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli);

    let result = match &cli.command {
        Command::Run(args) => run(args, shows_progress(&cli)),
        Command::Plan(args) => show_plan(args),
        Command::Graph(args) => show_graph(args),
        Command::List(args) => list(args),
        Command::Config(ConfigCommand::Show(args)) => show_config(args),
        Command::Completions(args) => print_bytes(&manual::completions(args.shell)),
        Command::Man(args) => manual::man_page(&args.command).and_then(|page| print_bytes(&page)),
        Command::Scan => configurator::scan::helper::run().map(|()| EXIT_SUCCESS),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("error: {error:#}");
            if is_interrupted_discovery(&error) {
                ExitCode::from(EXIT_INTERRUPTED)
            } else {
                ExitCode::from(EXIT_INVALID)
            }
        }
    }
}

/// Returns whether `error` is a signal that stopped plugin discovery, which `list` reports
/// as a [`ScanError`] and the other commands inside a [`ModuleSetError`].
fn is_interrupted_discovery(error: &anyhow::Error) -> bool {
    let scan_error = match error.downcast_ref::<ModuleSetError>() {
        Some(ModuleSetError::Scan(scan_error)) => Some(scan_error),
        _ => error.downcast_ref::<ScanError>(),
    };
    matches!(
        scan_error,
        Some(ScanError::Examine(ExamineError::Interrupted))
    )
}

fn init_logging(cli: &Cli) {
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => LevelFilter::WARN,
        (false, 0) => LevelFilter::INFO,
        (false, 1) => LevelFilter::DEBUG,
        (false, _) => LevelFilter::TRACE,
    };
    if cli.log_format == LogFormat::Json {
        // Log shippers need a timestamp on each line and the module name as a field.
        configurator::services::log_module_name_as_field(true);
        tracing_subscriber::fmt()
            .json()
            .with_max_level(level)
            .with_writer(io::stderr)
            .with_target(false)
            .init();
        return;
    }
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(progress::log_writer)
        .with_ansi(io::stderr().is_terminal())
        .with_target(false)
        .without_time()
        .init();
}

/// Returns whether `run` draws a progress bar: on a terminal, with text logs and without
/// `--quiet`. Elsewhere the info log lines follow the run.
fn shows_progress(cli: &Cli) -> bool {
    io::stderr().is_terminal() && !cli.quiet && cli.log_format == LogFormat::Text
}

fn run(args: &RunArgs, progress: bool) -> anyhow::Result<u8> {
    // Installed first, so that a signal during loading stops the run before any module starts.
    let interrupt = signal_interrupt();
    let config = Config::load(args.common.config.as_deref())?;
    // Context paths are confined to the root by comparing resolved paths with it, which needs
    // its canonical spelling.
    let root = existing_dir(&args.root, "root directory")?;
    let root = std::fs::canonicalize(&root)
        .with_context(|| format!("cannot resolve root directory {}", root.display()))?;
    let jobs = args
        .jobs
        .or(config.jobs)
        .map(usize::from)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    if jobs > MAX_JOBS {
        bail!("{jobs} worker threads requested; the maximum is {MAX_JOBS}");
    }
    // The lock directory lives under the root like every other path of the run, so that two
    // runs on one root agree on it wherever they were started from. Like a module's paths, it
    // may not leave the root through `..` or a symlink.
    let lock_dir = configurator::paths::resolve_in_root(
        &root,
        config
            .lock_dir
            .as_deref()
            .unwrap_or(Path::new(DEFAULT_LOCK_DIR)),
    )
    .context("invalid lock directory")?;
    // The configuration rejects a `lock_dir` that names the root; this catches one that
    // reaches it through a symlink. The durations file beside the lock directory would land
    // in the root's parent, outside the root.
    if lock_dir == root {
        bail!(
            "invalid lock directory {}: it resolves to the root {} itself; set `lock_dir` to a \
             directory below the root, such as {DEFAULT_LOCK_DIR}",
            config
                .lock_dir
                .as_deref()
                .unwrap_or(Path::new(DEFAULT_LOCK_DIR))
                .display(),
            root.display()
        );
    }
    check_output_paths(args)?;

    // The report file carries each plugin's SHA-256, so only a run with a report hashes them.
    let mut set = load_module_set(&args.common, &config, args.report.is_some())?;
    set.select(&args.selection.selection())?;
    let plan = plan_for(&set)?;
    check_settings(&config, &set)?;
    let settings = set
        .enabled
        .keys()
        .map(|name| (name.clone(), config.settings_text(name)))
        .collect();
    let mut options = RunOptions::new(root, jobs, lock_dir);
    options.schedule = args.schedule.into();
    options.shuffle_seed = args
        .shuffle
        .map(|seed| seed.unwrap_or_else(|| fastrand::u64(..)));
    options.fail_fast = args.fail_fast;
    options.timeout = args.timeout;
    options.module_timeouts = config.module_timeouts();
    options.durations_file = execute::default_durations_path(&options.lock_dir);
    options.interrupt = Some(interrupt);
    options.lock_timeout = args
        .lock_timeout
        .or(config.lock_timeout)
        .or(Some(DEFAULT_LOCK_TIMEOUT));
    let audit_log = args.audit.then(|| Arc::new(AccessLog::default()));
    options.audit = audit_log.clone();
    // NOTE: discovery above may still have updated the plugin scan cache, which is under
    // /var/cache/configurator, and so under a root of `/`, when the host runs as root.
    options.check = args.check;
    // The report lists the files each module changed, which the change log collects.
    let change_log = (args.diff || args.report.is_some()).then(|| Arc::new(ChangeLog::default()));
    options.changes = change_log.clone();
    let lock_waits = args
        .report
        .is_some()
        .then(|| Arc::new(LockWaitLog::default()));
    options.lock_waits = lock_waits.clone();
    if progress {
        options.observer = Some(Arc::new(progress::Progress::new()));
    }
    if args.check {
        tracing::info!(
            "check mode: modules that support it report what they would change, and nothing \
             under the root is written"
        );
    }
    let planned = set.infos();
    let report_plugins = if args.report.is_some() {
        report_plugins(&set)?
    } else {
        Vec::new()
    };
    tracing::info!(
        "running {} module(s) in {} batch(es), {} schedule, on {} thread(s) under {}",
        set.enabled.len(),
        plan.batches.len(),
        options.schedule.name(),
        options.jobs,
        options.root.display()
    );

    // A module that times out keeps its thread and with it the plugin, so the executor takes
    // shared ownership of the plugins.
    let modules = std::mem::take(&mut set.enabled)
        .into_iter()
        .map(|(name, plugin)| (name, Arc::new(plugin)))
        .collect();
    let started = SystemTime::now();
    let report = execute::execute(&plan, &modules, &settings, &options)?;
    let finished = SystemTime::now();
    let accesses = audit_log.as_ref().map(|log| log.accesses());
    let findings = accesses
        .as_ref()
        .map(|accesses| audit::analyze(&planned, accesses))
        .unwrap_or_default();
    let changes = change_log.map(|log| log.changes()).unwrap_or_default();
    let module_order: Vec<&str> = report
        .modules
        .iter()
        .map(|module| module.name.as_str())
        .collect();
    let text = match args.format {
        Format::Text => {
            let mut text = output::recap(&report);
            if args.check {
                text.push_str(output::check_notice());
            }
            if args.diff {
                let colour = io::stdout().is_terminal();
                text.push_str(&output::diff_text(&changes, &module_order, colour));
            }
            if let Some(accesses) = &accesses {
                text.push_str(&output::audit_text(&findings, accesses.len()));
            }
            text.push_str(&output::rejected_list(&set.rejected));
            text
        }
        Format::Json => {
            let audit = accesses.as_ref().map(|accesses| output::AuditDocument {
                accesses: accesses.len(),
                findings: &findings,
            });
            let mut document = output::run_document(&report, audit, &set.rejected);
            document.check = args.check;
            document.diff = args
                .diff
                .then(|| output::diff_entries(&changes, &module_order));
            let mut json =
                serde_json::to_string_pretty(&document).context("cannot encode JSON output")?;
            json.push('\n');
            json
        }
    };
    let mut status = if report.interrupted {
        EXIT_INTERRUPTED
    } else if report.all_succeeded_or_check_skipped() {
        EXIT_SUCCESS
    } else {
        EXIT_MODULE_FAILED
    };
    // The modules have run, so a lost report or recap must not turn into "nothing ran".
    if let Some(path) = &args.report {
        let lock_waits = lock_waits.map(|log| log.waits()).unwrap_or_default();
        let document = output::report_document(output::ReportInput {
            report: &report,
            plan: &plan,
            plugins: report_plugins,
            changes: &changes,
            lock_waits: &lock_waits,
            started,
            finished,
            jobs: options.jobs,
            check: args.check,
            rejected: &set.rejected,
        });
        if let Err(error) = output::write_report(path, &document) {
            tracing::error!("cannot write the run report {}: {error}", path.display());
            status = status.max(EXIT_MODULE_FAILED);
        }
    }
    if let Some(path) = &args.timeline
        && let Err(error) = write_timeline(path, &report, &plan, &planned)
    {
        tracing::error!("cannot write the run timeline {}: {error}", path.display());
        status = status.max(EXIT_MODULE_FAILED);
    }
    if let Err(error) = print(&text) {
        tracing::error!("{error:#}");
        return Ok(status.max(EXIT_MODULE_FAILED));
    }
    Ok(status)
}

/// Rejects `--report` and `--timeline` paths that could not be written, before anything runs:
/// a missing parent directory, or both options naming one file.
fn check_output_paths(args: &RunArgs) -> anyhow::Result<()> {
    let outputs = [("--report", &args.report), ("--timeline", &args.timeline)];
    for (option, path) in outputs {
        let Some(path) = path else {
            continue;
        };
        let parent = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        if !parent.is_dir() {
            bail!(
                "{option} {}: directory {} does not exist",
                path.display(),
                parent.display()
            );
        }
        if path.is_dir() {
            bail!("{option} {} is a directory", path.display());
        }
    }
    if let (Some(report), Some(timeline)) = (&args.report, &args.timeline)
        && report == timeline
    {
        bail!(
            "--report and --timeline both name {}; give each its own file",
            report.display()
        );
    }
    Ok(())
}

/// Writes the timeline of a run to `path`: an HTML page when it ends in `.html`, else SVG.
fn write_timeline(
    path: &Path,
    report: &execute::RunReport,
    plan: &Plan,
    infos: &[configurator::module::ModuleInfo],
) -> std::io::Result<()> {
    let svg = output::timeline_svg(report, plan, infos);
    let is_html = path
        .extension()
        .is_some_and(|extension| extension.eq_ignore_ascii_case("html"));
    let content = if is_html {
        output::timeline_html(&svg)
    } else {
        svg
    };
    output::write_atomically(path, content.as_bytes())
}

/// Returns the plugin file of each module in `set` to run, for `run --report`.
fn report_plugins(set: &ModuleSet) -> anyhow::Result<Vec<output::ReportPlugin>> {
    set.enabled
        .values()
        .map(|plugin| {
            Ok(output::ReportPlugin {
                name: plugin.info.name.clone(),
                version: plugin.info.version.clone(),
                interface_version: plugin.interface_version.clone(),
                file: plugin.info.path.clone(),
                sha256: computed_sha256(plugin)?.to_owned(),
            })
        })
        .collect()
}

/// Returns the SHA-256 that discovery computed for `plugin`, which it does for every plugin
/// when the command sets `ScanOptions::hash_every_plugin`.
fn computed_sha256(plugin: &LoadedPlugin) -> anyhow::Result<&str> {
    plugin.sha256.as_deref().with_context(|| {
        format!(
            "internal error: discovery computed no SHA-256 for {}",
            plugin.file().display()
        )
    })
}

/// Returns the interrupt that SIGINT, SIGTERM and SIGHUP trigger, installing the handler on
/// the first call.
///
/// Without a handler, a signal ends the process at once, with no recap. The plugin scanner's
/// helpers, which run in process groups of their own, then die through their parent-death
/// signal.
fn signal_interrupt() -> Interrupt {
    static INTERRUPT: OnceLock<Interrupt> = OnceLock::new();
    INTERRUPT
        .get_or_init(|| {
            let interrupt = Interrupt::new();
            let handler = interrupt.clone();
            if let Err(error) = ctrlc::set_handler(move || handler.trigger()) {
                tracing::warn!(
                    "cannot handle interrupt signals, so Ctrl-C ends the run at once: {error}"
                );
            }
            interrupt
        })
        .clone()
}

fn show_plan(args: &PlanArgs) -> anyhow::Result<u8> {
    let config = Config::load(args.common.config.as_deref())?;
    let mut set = load_module_set(&args.common, &config, false)?;
    let selected = set.select(&args.selection.selection())?;
    let plan = plan_for(&set)?;
    check_settings(&config, &set)?;
    let infos = set.infos();
    let explanation = explain::explain(&plan, &infos);
    match args.format {
        Format::Text => {
            let mut text = output::plan_text(&plan);
            text.push_str(&output::placement_text(&explanation));
            text.push_str(&output::selection_text(&selected));
            text.push_str(&output::rejected_list(&set.rejected));
            print(&text)?;
        }
        Format::Json => {
            let document = PlanDocument::new(&plan, &infos, &explanation, &selected, &set.rejected);
            print_json(&document)?;
        }
    }
    Ok(EXIT_SUCCESS)
}

fn show_graph(args: &GraphArgs) -> anyhow::Result<u8> {
    let config = Config::load(args.common.config.as_deref())?;
    let mut set = load_module_set(&args.common, &config, false)?;
    set.select(&args.selection.selection())?;
    let plan = plan_for(&set)?;
    print(&dot::render(&plan, &set.infos()))?;
    Ok(EXIT_SUCCESS)
}

/// One plugin file in `list --format json`.
#[derive(Serialize)]
struct ListedPlugin<'a> {
    #[serde(flatten)]
    info: &'a configurator::module::ModuleInfo,
    interface_version: &'a str,
    sha256: &'a str,
    enabled: bool,
    /// The reason a `version` pin leaves the file out of runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    ignored: Option<&'a str>,
}

fn list(args: &ListArgs) -> anyhow::Result<u8> {
    let config = Config::load(args.common.config.as_deref())?;
    let plugin_dir = existing_dir(
        &config.plugin_dir(args.common.plugins.as_deref()),
        "plugin directory",
    )?;
    let mut options = scan_options(&args.common, &config, &plugin_dir)?;
    options.hash_every_plugin = true;
    let discovered = Discovered::scan(&plugin_dir, &options)?;
    let (ignored, _) = discovered.version_pins(&config);
    let hashes: Vec<&str> = discovered
        .plugins
        .iter()
        .map(computed_sha256)
        .collect::<anyhow::Result<_>>()?;

    match args.format {
        Format::Text => {
            let ignored: std::collections::BTreeMap<usize, String> = ignored
                .iter()
                .map(|(index, note)| (*index, format!("ignored: {note}")))
                .collect();
            let entry = |index: usize| {
                let plugin = &discovered.plugins[index];
                let note = match ignored.get(&index) {
                    Some(note) => Some(note.as_str()),
                    None if !config.is_enabled(&plugin.info.name) => Some("disabled"),
                    None => None,
                };
                output::ListEntry {
                    info: &plugin.info,
                    depends_on: &plugin.metadata().depends_on,
                    interface_version: &plugin.interface_version,
                    sha256: hashes[index],
                    note,
                }
            };
            // Modules that run first, then the ones left out.
            let (running, left_out): (Vec<_>, Vec<_>) = (0..discovered.plugins.len())
                .map(entry)
                .partition(|entry| entry.note.is_none());
            let mut text = output::module_list(&[running, left_out].concat());
            text.push_str(&output::rejected_list(&discovered.rejected));
            print(&text)?;
        }
        Format::Json => {
            #[derive(Serialize)]
            struct Listing<'a> {
                modules: Vec<ListedPlugin<'a>>,
                rejected: Vec<output::RejectedFile<'a>>,
            }
            let listing = Listing {
                modules: discovered
                    .plugins
                    .iter()
                    .enumerate()
                    .map(|(index, plugin)| ListedPlugin {
                        info: &plugin.info,
                        interface_version: &plugin.interface_version,
                        sha256: hashes[index],
                        enabled: config.is_enabled(&plugin.info.name),
                        ignored: ignored.get(&index).map(String::as_str),
                    })
                    .collect(),
                rejected: output::rejected_files(&discovered.rejected),
            };
            print_json(&listing)?;
        }
    }

    if !discovered.rejected.is_empty() && !args.common.skip_broken {
        bail!(
            "{} file(s) in {} cannot be loaded as plugins; see the list above",
            discovered.rejected.len(),
            plugin_dir.display()
        );
    }
    Ok(EXIT_SUCCESS)
}

fn show_config(args: &ConfigShowArgs) -> anyhow::Result<u8> {
    let config = Config::load(args.config.as_deref())?;
    let defaults = show::Defaults {
        plugins: args.plugins.as_deref(),
        jobs: std::thread::available_parallelism().map_or(1, usize::from),
        lock_dir: Path::new(DEFAULT_LOCK_DIR),
        lock_timeout: DEFAULT_LOCK_TIMEOUT,
    };
    print(&show::effective_config(&config, &defaults)?)?;
    Ok(EXIT_SUCCESS)
}

/// Discovers and loads the module set. With `hash_every_plugin`, discovery computes every
/// plugin's SHA-256, not only the pinned modules', for a command that shows it.
fn load_module_set(
    common: &Common,
    config: &Config,
    hash_every_plugin: bool,
) -> anyhow::Result<ModuleSet> {
    let plugin_dir = existing_dir(
        &config.plugin_dir(common.plugins.as_deref()),
        "plugin directory",
    )?;
    let mut options = scan_options(common, config, &plugin_dir)?;
    options.hash_every_plugin = hash_every_plugin;
    let set = ModuleSet::load(&plugin_dir, &options, config, common.skip_broken)?;
    for rejection in &set.rejected {
        tracing::warn!("skipping broken plugin file {rejection}");
    }
    if set.enabled.is_empty() && set.disabled.is_empty() && set.rejected.is_empty() {
        tracing::warn!(
            "no plugins in {}: plugin files must be named NAME.so",
            plugin_dir.display()
        );
    }
    check_module_tables(config, &set)?;
    Ok(set)
}

/// Rejects the run when the settings table of a module about to run does not fit the settings
/// type the module declared, listing every such mistake with its line.
fn check_settings(config: &Config, set: &ModuleSet) -> anyhow::Result<()> {
    let modules = set
        .enabled
        .iter()
        .map(|(name, plugin)| (name.as_str(), plugin as &dyn ModuleCode));
    let problems = settings::check_modules(modules, config);
    if problems.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
    bail!(
        "{} invalid module setting(s):\n{}",
        problems.len(),
        list.join("\n")
    )
}

/// Rejects `[modules.NAME]` tables for modules that are not loaded, which are most likely
/// typos: the module they meant would otherwise run with its defaults.
///
/// With files rejected under `--skip-broken` a table may belong to one of them, so it is only
/// a warning then.
fn check_module_tables(config: &Config, set: &ModuleSet) -> anyhow::Result<()> {
    let loaded = || {
        set.enabled
            .keys()
            .chain(set.disabled.keys())
            .map(String::as_str)
    };
    let describe =
        |name: &str, place: String| match configurator::selection::closest(name, loaded()) {
            Some(suggestion) => format!("{place} (did you mean `{suggestion}`?)"),
            None => place,
        };
    let is_unknown = |name: &&String| !loaded().any(|module| module == name.as_str());
    // A misspelled trust pin would switch the pin off without a word, so it counts too.
    let unknown: Vec<String> = config
        .modules
        .keys()
        .filter(is_unknown)
        .map(|name| describe(name, format!("[modules.{name}]")))
        .chain(
            config
                .trust
                .sha256
                .keys()
                .filter(is_unknown)
                .map(|name| describe(name, format!("the [trust] sha256 pin `{name}`"))),
        )
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let config_path = config.path.as_ref().map_or_else(
        || "the configuration".to_owned(),
        |path| path.display().to_string(),
    );
    let message = format!(
        "{config_path} configures modules that are not in {}: {}; fix each name, or remove the table or pin",
        set.plugin_dir.display(),
        unknown.join(", ")
    );
    if set.rejected.is_empty() {
        bail!(message);
    }
    tracing::warn!("{message}");
    Ok(())
}

/// Returns the discovery settings for `plugin_dir`, with this executable as the plugin scanner.
fn scan_options(
    common: &Common,
    config: &Config,
    plugin_dir: &Path,
) -> anyhow::Result<ScanOptions> {
    let scanner = std::env::current_exe()
        .context("cannot find the configurator executable, which runs the plugin scanner")?;
    let mut options =
        ScanOptions::from_config(config, plugin_dir, common.insecure_plugins, scanner);
    options.interrupt = Some(signal_interrupt());
    if !options.strict {
        tracing::warn!(
            "plugin trust checks are off (--insecure-plugins or `[trust] strict = false`): \
             any user who can write to a plugin file or its directories can run code as this \
             user"
        );
    }
    Ok(options)
}

/// Plans the module set. When a dependency is missing and `--skip-broken` left files out, the
/// error names those files, because the missing module may be in one of them.
fn plan_for(set: &ModuleSet) -> anyhow::Result<Plan> {
    plan::plan(&set.infos(), &set.disabled_names()).map_err(|error| {
        let missing = error
            .problems
            .iter()
            .any(|problem| matches!(problem, PlanProblem::MissingDependency { .. }));
        if !missing || set.rejected.is_empty() {
            return error.into();
        }
        let files: Vec<String> = set.rejected.iter().map(ToString::to_string).collect();
        anyhow::anyhow!(
            "{error}\n--skip-broken left out {} plugin file(s), which may provide a missing \
             module: {}",
            files.len(),
            files.join("; ")
        )
    })
}

/// Returns `path` if it is an existing directory, else an error naming it and its role.
fn existing_dir(path: &Path, role: &str) -> anyhow::Result<PathBuf> {
    let metadata = std::fs::metadata(path)
        .with_context(|| format!("{role} {} is not accessible", path.display()))?;
    if !metadata.is_dir() {
        bail!("{role} {} is not a directory", path.display());
    }
    Ok(path.to_owned())
}

fn print(text: &str) -> anyhow::Result<()> {
    let mut stdout = io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .context("cannot write to standard output")?;
    stdout.flush().context("cannot write to standard output")
}

/// Prints generated text, such as a man page, and returns the success status.
fn print_bytes(bytes: &[u8]) -> anyhow::Result<u8> {
    print(&String::from_utf8_lossy(bytes))?;
    Ok(EXIT_SUCCESS)
}

fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(value).context("cannot encode JSON output")?;
    text.push('\n');
    print(&text)
}
