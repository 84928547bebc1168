//! Benchmarks of the scheduler in `execute`, on in-process modules in seeded random graphs.
//!
//! Two benchmarks, chosen by name on the command line (both when none is given):
//!
//! - `overhead` (see `overhead.rs`) times `execute` on no-op modules against a bare rayon scope
//!   running as many no-op closures, and prints the difference per module.
//! - `length` (see `length.rs`) runs graphs of sleeping modules and prints each run's length
//!   divided by the lower bound max(critical path, total work / threads).
//!
//! Run them in release mode, as `cargo bench` does:
//! `cargo bench -p configurator --bench scheduler -- overhead` (or `length`).
//! `docs/benchmarks.md` records the results.

mod length;
mod load;
mod overhead;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use configurator::execute::{self, RunOptions, RunReport, Schedule};
use configurator::module::{InProcess, ModuleCode, ModuleInfo};
use configurator::plan::{self, Plan};
use plugin_api::{ConfigurationModule, Context, Outcome};
use tempfile::TempDir;

const USAGE: &str = "usage: scheduler [overhead] [length]";

fn main() {
    // The binary's default log level, with the output thrown away: log calls cost what they
    // cost in a real run without filling the terminal.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_writer(std::io::sink)
        .init();

    let mut selected = Vec::new();
    for argument in std::env::args().skip(1) {
        match argument.as_str() {
            "overhead" | "length" => selected.push(argument),
            // `cargo bench` passes `--bench` to every benchmark binary.
            "--bench" => {}
            _ => {
                eprintln!("unknown argument `{argument}`\n{USAGE}");
                std::process::exit(2);
            }
        }
    }
    let runs = |name: &str| selected.is_empty() || selected.iter().any(|chosen| chosen == name);

    if runs("overhead") {
        load::report_interference(overhead::run);
    }
    if runs("length") {
        load::report_interference(length::run);
    }
}

/// A module whose `configure` sleeps for a fixed time, or returns at once when that time is
/// zero.
struct SleepModule {
    name: &'static str,
    depends_on: Vec<&'static str>,
    sleep: Duration,
}

impl ConfigurationModule for SleepModule {
    fn name(&self) -> &str {
        self.name
    }

    fn description(&self) -> &str {
        "benchmark module"
    }

    fn depends_on(&self) -> &[&str] {
        &self.depends_on
    }

    fn configure(&self, _ctx: &Context) -> plugin_api::Result<Outcome> {
        if !self.sleep.is_zero() {
            thread::sleep(self.sleep);
        }
        Ok(Outcome::unchanged(""))
    }
}

/// A generated module set: module `i` is named `m{i}` (zero-padded) and waits for the modules
/// in `parents[i]`, all of them numbered below `i`, so the graph is acyclic.
struct Workload {
    names: Vec<&'static str>,
    parents: Vec<Vec<usize>>,
    sleeps: Vec<Duration>,
}

impl Workload {
    /// Builds a workload of `sleeps.len()` modules.
    ///
    /// Names are leaked, because `ConfigurationModule::depends_on` returns borrowed names and a
    /// module must be `'static`. A benchmark builds only a handful of workloads per process.
    fn new(parents: Vec<Vec<usize>>, sleeps: Vec<Duration>) -> Self {
        assert_eq!(parents.len(), sleeps.len());
        let width = sleeps.len().to_string().len();
        let names = (0..sleeps.len())
            .map(|index| &*Box::leak(format!("m{index:0width$}").into_boxed_str()))
            .collect();
        Self {
            names,
            parents,
            sleeps,
        }
    }

    fn len(&self) -> usize {
        self.names.len()
    }

    fn modules(&self) -> BTreeMap<String, Arc<InProcess<SleepModule>>> {
        (0..self.len())
            .map(|index| {
                let module = SleepModule {
                    name: self.names[index],
                    depends_on: self.parents[index]
                        .iter()
                        .map(|&parent| self.names[parent])
                        .collect(),
                    sleep: self.sleeps[index],
                };
                (
                    self.names[index].to_owned(),
                    Arc::new(InProcess::new(module)),
                )
            })
            .collect()
    }
}

/// A workload ready to run: its modules, their plan and a temporary root and lock directory.
struct Fixture {
    directory: TempDir,
    modules: BTreeMap<String, Arc<InProcess<SleepModule>>>,
    plan: Plan,
}

impl Fixture {
    fn new(workload: &Workload) -> Self {
        let directory = tempfile::tempdir().expect("failed to create a temporary directory");
        std::fs::create_dir(directory.path().join("root")).expect("failed to create the root");
        let modules = workload.modules();
        let infos: Vec<ModuleInfo> = modules
            .values()
            .map(|module| module.info().clone())
            .collect();
        let plan = plan::plan(&infos, &BTreeSet::new()).expect("generated graphs are acyclic");
        Self {
            directory,
            modules,
            plan,
        }
    }

    fn options(&self, schedule: Schedule, jobs: usize) -> RunOptions {
        let mut options = RunOptions::new(
            self.directory.path().join("root"),
            jobs,
            self.directory.path().join("locks"),
        );
        options.schedule = schedule;
        options
    }

    /// Returns the durations file that eager runs of this fixture may share.
    fn durations_file(&self) -> PathBuf {
        self.directory.path().join("durations.json")
    }

    /// Runs every module and checks that each one succeeded.
    fn run(&self, options: &RunOptions) -> RunReport {
        let report = self.execute(options);
        Self::check(&report);
        report
    }

    /// Runs every module without checking the outcome.
    fn execute(&self, options: &RunOptions) -> RunReport {
        execute::execute(&self.plan, &self.modules, &BTreeMap::new(), options)
            .expect("the run starts")
    }

    /// Checks that every module of a run succeeded.
    fn check(report: &RunReport) {
        assert!(
            report.all_succeeded(),
            "a benchmark module did not succeed: {:?}",
            report
                .modules
                .iter()
                .find(|module| !module.status.succeeded())
        );
    }
}

/// Picks up to `count` distinct numbers from `range`, sorted.
fn pick_distinct(rng: &mut fastrand::Rng, range: Range<usize>, count: usize) -> Vec<usize> {
    let count = count.min(range.len());
    let mut picked = Vec::with_capacity(count);
    while picked.len() < count {
        let candidate = rng.usize(range.clone());
        if !picked.contains(&candidate) {
            picked.push(candidate);
        }
    }
    picked.sort_unstable();
    picked
}

/// Returns the median of `values`, which must not be empty.
fn median<T: Copy + PartialOrd>(values: &[T]) -> T {
    let mut sorted = values.to_vec();
    sorted.sort_by(|left, right| left.partial_cmp(right).expect("values are comparable"));
    sorted[sorted.len() / 2]
}

/// Returns the machine's available parallelism, or 1 when it cannot be read.
fn machine_threads() -> usize {
    thread::available_parallelism().map_or(1, |threads| threads.get())
}
