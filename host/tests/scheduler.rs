//! The scheduler on in-process modules: property tests over random dependency graphs in both
//! schedules, and deterministic tests of priorities, fail-fast, timeouts, interrupts and
//! shuffling.
//!
//! Each test module records when its `configure` started and ended in a shared log, so the
//! checks compare what really ran. No check compares a duration with a bound: modules that
//! must stay running block on a channel instead of sleeping.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use configurator::execute::{
    self, ExecuteError, Interrupt, RunOptions, RunReport, Schedule, SkipCause, Status, StopReason,
    priority_order, shuffled_order,
};
use configurator::module::{InProcess, ModuleCode, ModuleInfo};
use configurator::plan::{self, Batch, Plan};
use plugin_api::anyhow::bail;
use plugin_api::{ConfigurationModule, Context, Outcome};
use proptest::prelude::*;
use tempfile::TempDir;

/// How long a blocked module waits for its release before it gives up and returns. Far longer
/// than any timeout or grace period in these tests, so a run that waited for it shows up as a
/// wrong status rather than a hang.
const BLOCK_LIMIT: Duration = Duration::from_secs(30);

/// Names for generated modules.
const NAMES: [&str; 12] = [
    "m00", "m01", "m02", "m03", "m04", "m05", "m06", "m07", "m08", "m09", "m10", "m11",
];

/// One `configure` call as a test module saw it.
#[derive(Debug, Clone)]
struct Span {
    module: String,
    start: Instant,
    end: Instant,
}

impl Span {
    fn overlaps(&self, other: &Span) -> bool {
        self.start < other.end && other.start < self.end
    }
}

type Log = Arc<Mutex<Vec<Span>>>;

/// What a test module does inside `configure`.
type Body = Arc<dyn Fn(&Context) -> plugin_api::Result<Outcome> + Send + Sync>;

/// A module that runs `body` and logs its start and end.
struct TestModule {
    name: &'static str,
    depends_on: Vec<&'static str>,
    after: Vec<&'static str>,
    sequential: bool,
    log: Log,
    body: Body,
}

impl ConfigurationModule for TestModule {
    fn name(&self) -> &str {
        self.name
    }

    fn description(&self) -> &str {
        "scheduler test module"
    }

    fn depends_on(&self) -> &[&str] {
        &self.depends_on
    }

    fn after(&self) -> &[&str] {
        &self.after
    }

    fn force_sequential(&self) -> bool {
        self.sequential
    }

    fn configure(&self, ctx: &Context) -> plugin_api::Result<Outcome> {
        let start = Instant::now();
        let result = (self.body)(ctx);
        let end = Instant::now();
        lock(&self.log).push(Span {
            module: self.name.to_owned(),
            start,
            end,
        });
        result
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A set of test modules with a temporary root and lock directory.
struct Fixture {
    directory: TempDir,
    log: Log,
    modules: BTreeMap<String, Arc<dyn ModuleCode>>,
}

impl Fixture {
    fn new() -> Self {
        Self {
            directory: tempfile::tempdir().expect("failed to create a temporary directory"),
            log: Log::default(),
            modules: BTreeMap::new(),
        }
    }

    fn add(
        &mut self,
        name: &'static str,
        depends_on: &[&'static str],
        sequential: bool,
        body: impl Fn(&Context) -> plugin_api::Result<Outcome> + Send + Sync + 'static,
    ) {
        let module = TestModule {
            name,
            depends_on: depends_on.to_vec(),
            after: Vec::new(),
            sequential,
            log: Arc::clone(&self.log),
            body: Arc::new(body),
        };
        self.modules
            .insert(name.to_owned(), Arc::new(InProcess::new(module)));
    }

    /// Adds a module that runs after `after` when those are in the run, without depending on
    /// them.
    fn add_after(
        &mut self,
        name: &'static str,
        after: &[&'static str],
        body: impl Fn(&Context) -> plugin_api::Result<Outcome> + Send + Sync + 'static,
    ) {
        let module = TestModule {
            name,
            depends_on: Vec::new(),
            after: after.to_vec(),
            sequential: false,
            log: Arc::clone(&self.log),
            body: Arc::new(body),
        };
        self.modules
            .insert(name.to_owned(), Arc::new(InProcess::new(module)));
    }

    fn infos(&self) -> Vec<ModuleInfo> {
        self.modules
            .values()
            .map(|module| module.info().clone())
            .collect()
    }

    fn plan(&self) -> Plan {
        plan::plan(&self.infos(), &BTreeSet::new()).expect("test graphs are valid")
    }

    fn options(&self, schedule: Schedule, jobs: usize) -> RunOptions {
        let root = self.directory.path().join("root");
        std::fs::create_dir_all(&root).expect("failed to create the root");
        let mut options = RunOptions::new(root, jobs, self.directory.path().join("locks"));
        options.schedule = schedule;
        options
    }

    fn run(&self, options: &RunOptions) -> RunReport {
        execute::execute(&self.plan(), &self.modules, &BTreeMap::new(), options)
            .expect("the run starts")
    }

    fn spans(&self) -> Vec<Span> {
        lock(&self.log).clone()
    }

    /// Returns the modules in the order they started.
    fn start_order(&self) -> Vec<String> {
        let mut spans = self.spans();
        spans.sort_by_key(|span| span.start);
        spans.into_iter().map(|span| span.module).collect()
    }

    fn clear_log(&self) {
        lock(&self.log).clear();
    }
}

fn succeed(_: &Context) -> plugin_api::Result<Outcome> {
    Ok(Outcome::changed("done"))
}

fn sleep_then_succeed(millis: u64) -> impl Fn(&Context) -> plugin_api::Result<Outcome> {
    move |_| {
        thread::sleep(Duration::from_millis(millis));
        Ok(Outcome::changed("done"))
    }
}

fn fail(_: &Context) -> plugin_api::Result<Outcome> {
    bail!("failed on purpose")
}

/// A module body that blocks until the returned sender sends or [`BLOCK_LIMIT`] passes, and a
/// flag that it sets when it returns.
fn blocker() -> (
    impl Fn(&Context) -> plugin_api::Result<Outcome>,
    Sender<()>,
    Arc<AtomicBool>,
) {
    let (release, released) = mpsc::channel::<()>();
    let released = Mutex::new(released);
    let returned = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&returned);
    let body = move |_: &Context| {
        let outcome = lock(&released).recv_timeout(BLOCK_LIMIT);
        flag.store(true, Ordering::SeqCst);
        match outcome {
            Ok(()) => Ok(Outcome::changed("released")),
            Err(_) => Ok(Outcome::unchanged("never released")),
        }
    };
    (body, release, returned)
}

fn status<'a>(report: &'a RunReport, module: &str) -> &'a Status {
    &report
        .module(module)
        .unwrap_or_else(|| panic!("no report for {module}: {report:#?}"))
        .status
}

// ---------------------------------------------------------------------------------------------
// Property tests over random graphs
// ---------------------------------------------------------------------------------------------

/// One module of a generated graph.
#[derive(Debug, Clone)]
struct CaseModule {
    name: &'static str,
    depends_on: Vec<&'static str>,
    sequential: bool,
    sleep_ms: u64,
}

/// Random acyclic graphs of up to 12 modules. Module `i` may depend on modules before it, and
/// names are dealt out shuffled so that name order and dependency order differ.
fn graphs() -> impl Strategy<Value = Vec<CaseModule>> {
    (1..=NAMES.len())
        .prop_flat_map(|count| {
            let modules: Vec<_> = (0..count)
                .map(|index| {
                    let earlier: Vec<usize> = (0..index).collect();
                    (
                        proptest::sample::subsequence(earlier, 0..=index.min(3)),
                        proptest::bool::weighted(0.15),
                        0u64..=3,
                    )
                })
                .collect();
            let names = Just((0..count).collect::<Vec<usize>>()).prop_shuffle();
            (modules, names)
        })
        .prop_map(|(modules, names)| {
            modules
                .into_iter()
                .enumerate()
                .map(|(index, (depends_on, sequential, sleep_ms))| CaseModule {
                    name: NAMES[names[index]],
                    depends_on: depends_on
                        .into_iter()
                        .map(|dependency| NAMES[names[dependency]])
                        .collect(),
                    sequential,
                    sleep_ms,
                })
                .collect()
        })
}

fn fixture_of(case: &[CaseModule]) -> Fixture {
    let mut fixture = Fixture::new();
    for module in case {
        fixture.add(
            module.name,
            &module.depends_on,
            module.sequential,
            sleep_then_succeed(module.sleep_ms),
        );
    }
    fixture
}

fn info_of(module: &CaseModule) -> ModuleInfo {
    ModuleInfo {
        name: module.name.to_owned(),
        depends_on: module
            .depends_on
            .iter()
            .map(|name| name.to_string())
            .collect(),
        force_sequential: module.sequential,
        ..ModuleInfo::default()
    }
}

/// Checks the guarantees every schedule gives, returning the spans by module.
fn check_common_guarantees(
    case: &[CaseModule],
    fixture: &Fixture,
    report: &RunReport,
    jobs: usize,
) -> Result<BTreeMap<String, Span>, TestCaseError> {
    prop_assert!(
        report.all_succeeded(),
        "a module did not succeed: {report:#?}"
    );
    let spans = fixture.spans();
    prop_assert_eq!(spans.len(), case.len(), "runs: {:?}", spans);
    let by_module: BTreeMap<String, Span> = spans
        .iter()
        .map(|span| (span.module.clone(), span.clone()))
        .collect();
    prop_assert_eq!(
        by_module.len(),
        case.len(),
        "a module ran twice: {:?}",
        spans
    );

    for module in case {
        let span = &by_module[module.name];
        for dependency in &module.depends_on {
            let before = &by_module[*dependency];
            prop_assert!(
                before.end <= span.start,
                "{} started before its dependency {} finished",
                module.name,
                dependency
            );
        }
        if module.sequential {
            for other in spans.iter().filter(|other| other.module != module.name) {
                prop_assert!(
                    !span.overlaps(other),
                    "sequential {} overlapped {}",
                    module.name,
                    other.module
                );
            }
        }
    }
    let concurrent = max_concurrency(&spans);
    prop_assert!(
        concurrent <= jobs,
        "{} modules ran at once with {} jobs",
        concurrent,
        jobs
    );
    Ok(by_module)
}

/// Returns the largest number of spans that were running at one moment.
fn max_concurrency(spans: &[Span]) -> usize {
    // At equal instants an end sorts before a start, so touching spans do not count as
    // overlapping.
    let mut events: Vec<(Instant, i32)> = spans
        .iter()
        .flat_map(|span| [(span.start, 1), (span.end, -1)])
        .collect();
    events.sort();
    let mut running = 0i32;
    let mut max = 0i32;
    for (_, change) in events {
        running += change;
        max = max.max(running);
    }
    usize::try_from(max).unwrap_or(0)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 48,
        // An integration test has no lib.rs beside it to store regressions next to.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn batches_schedule_keeps_guarantees(case in graphs(), jobs in 1usize..=4) {
        let fixture = fixture_of(&case);
        let report = fixture.run(&fixture.options(Schedule::Batches, jobs));

        let spans = check_common_guarantees(&case, &fixture, &report, jobs)?;
        let plan = fixture.plan();
        for (earlier, later) in plan.batches.iter().zip(plan.batches.iter().skip(1)) {
            for first in &earlier.modules {
                for second in &later.modules {
                    prop_assert!(
                        spans[first].end <= spans[second].start,
                        "batch of {} overlapped the next batch's {}",
                        first,
                        second
                    );
                }
            }
        }
    }

    #[test]
    fn eager_schedule_keeps_guarantees(case in graphs(), jobs in 1usize..=4) {
        let fixture = fixture_of(&case);
        let report = fixture.run(&fixture.options(Schedule::Eager, jobs));

        check_common_guarantees(&case, &fixture, &report, jobs)?;
    }

    #[test]
    fn orders_ignore_input_order(
        (case, shuffled) in graphs().prop_flat_map(|case| {
            let shuffled = Just(case.clone()).prop_shuffle();
            (Just(case), shuffled)
        }),
        seed in any::<u64>(),
    ) {
        let infos: Vec<ModuleInfo> = case.iter().map(info_of).collect();
        let shuffled: Vec<ModuleInfo> = shuffled.iter().map(info_of).collect();
        let durations = BTreeMap::from([
            (case[0].name.to_owned(), Duration::from_millis(5)),
        ]);

        prop_assert_eq!(
            plan::plan(&infos, &BTreeSet::new()).unwrap(),
            plan::plan(&shuffled, &BTreeSet::new()).unwrap()
        );
        prop_assert_eq!(
            priority_order(&infos, &durations),
            priority_order(&shuffled, &durations)
        );
        prop_assert_eq!(shuffled_order(&infos, seed), shuffled_order(&shuffled, seed));
    }
}

// ---------------------------------------------------------------------------------------------
// Start order
// ---------------------------------------------------------------------------------------------

/// z-head has the longest chain behind it; by name, a-alone would start first.
fn chain_fixture() -> Fixture {
    let mut fixture = Fixture::new();
    fixture.add("a-alone", &[], false, succeed);
    fixture.add("z-head", &[], false, succeed);
    fixture.add("m-middle", &["z-head"], false, succeed);
    fixture.add("n-tail", &["m-middle"], false, succeed);
    fixture
}

#[test]
fn eager_starts_longest_chain_first() {
    let fixture = chain_fixture();

    fixture.run(&fixture.options(Schedule::Eager, 1));

    assert_eq!(
        fixture.start_order(),
        ["z-head", "m-middle", "a-alone", "n-tail"]
    );
}

#[test]
fn batches_start_in_name_order() {
    let fixture = chain_fixture();

    fixture.run(&fixture.options(Schedule::Batches, 1));

    assert_eq!(
        fixture.start_order(),
        ["a-alone", "z-head", "m-middle", "n-tail"]
    );
}

#[test]
fn recorded_durations_steer_eager_order() {
    let fixture = chain_fixture();
    let durations = fixture.directory.path().join("state/durations.json");
    std::fs::create_dir_all(durations.parent().unwrap()).unwrap();
    std::fs::write(&durations, r#"{"version": 1, "seconds": {"a-alone": 0.5}}"#).unwrap();
    let mut options = fixture.options(Schedule::Eager, 1);
    options.durations_file = Some(durations.clone());

    fixture.run(&options);

    assert_eq!(
        fixture.start_order(),
        ["a-alone", "z-head", "m-middle", "n-tail"],
        "a-alone's 500 ms outweigh z-head's chain of three unknown modules"
    );
    let recorded = execute::load_durations(&durations);
    assert_eq!(
        recorded.keys().collect::<Vec<_>>(),
        ["a-alone", "m-middle", "n-tail", "z-head"],
        "the run records every module it ran"
    );
}

#[test]
fn eager_dependent_overtakes_slow_module() {
    // slow blocks until fast's dependent starts, which the batch schedule would never allow
    // before slow finished.
    let mut fixture = Fixture::new();
    let (slow, release, _) = blocker();
    let release = Mutex::new(release);
    fixture.add("fast", &[], false, succeed);
    fixture.add("slow", &[], false, slow);
    fixture.add("dependent", &["fast"], false, move |_| {
        let _ = lock(&release).send(());
        Ok(Outcome::changed("released slow"))
    });

    let report = fixture.run(&fixture.options(Schedule::Eager, 3));

    assert_eq!(
        status(&report, "slow"),
        &Status::Changed("released".to_owned()),
        "dependent started while slow was running"
    );
}

#[test]
fn shuffle_repeats_start_order_for_seed() {
    let mut fixture = Fixture::new();
    for name in &NAMES[..8] {
        fixture.add(name, &[], false, succeed);
    }
    let expected = shuffled_order(&fixture.infos(), 7);
    assert_ne!(
        expected,
        &NAMES[..8],
        "seed 7 keeps name order; pick another"
    );

    for schedule in [Schedule::Batches, Schedule::Eager] {
        for _ in 0..2 {
            let mut options = fixture.options(schedule, 1);
            options.shuffle_seed = Some(7);
            fixture.clear_log();

            let report = fixture.run(&options);

            assert_eq!(report.shuffle_seed, Some(7));
            assert_eq!(fixture.start_order(), expected, "{schedule:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Failures
// ---------------------------------------------------------------------------------------------

fn failing_fixture() -> Fixture {
    let mut fixture = Fixture::new();
    fixture.add("a-fails", &[], false, fail);
    fixture.add("b-other", &[], false, succeed);
    fixture.add("c-after-a", &["a-fails"], false, succeed);
    fixture.add("d-after-c", &["c-after-a"], false, succeed);
    fixture.add("e-after-b", &["b-other"], false, succeed);
    fixture
}

#[test]
fn keep_going_skips_only_dependents() {
    let fixture = failing_fixture();

    let report = fixture.run(&fixture.options(Schedule::Batches, 1));

    assert!(matches!(status(&report, "a-fails"), Status::Failed(_)));
    assert!(status(&report, "b-other").succeeded());
    assert!(status(&report, "e-after-b").succeeded());
    assert_eq!(
        status(&report, "c-after-a"),
        &Status::Skipped {
            dependency: "a-fails".to_owned(),
            failed: "a-fails".to_owned(),
            cause: SkipCause::Failed,
        }
    );
    assert_eq!(
        status(&report, "d-after-c"),
        &Status::Skipped {
            dependency: "c-after-a".to_owned(),
            failed: "a-fails".to_owned(),
            cause: SkipCause::Failed,
        }
    );
}

#[test]
fn fail_fast_starts_nothing_new() {
    for schedule in [Schedule::Batches, Schedule::Eager] {
        let fixture = failing_fixture();
        let mut options = fixture.options(schedule, 1);
        options.fail_fast = true;

        let report = fixture.run(&options);

        let not_started = Status::NotStarted(StopReason::FailFast {
            failed: "a-fails".to_owned(),
        });
        assert!(matches!(status(&report, "a-fails"), Status::Failed(_)));
        assert_eq!(status(&report, "b-other"), &not_started, "{schedule:?}");
        assert_eq!(status(&report, "e-after-b"), &not_started, "{schedule:?}");
        assert!(
            matches!(status(&report, "c-after-a"), Status::Skipped { .. }),
            "a dependent of the failed module is skipped: {report:#?}"
        );
        assert!(
            matches!(status(&report, "d-after-c"), Status::Skipped { .. }),
            "{report:#?}"
        );
        assert_eq!(fixture.start_order(), ["a-fails"], "{schedule:?}");
    }
}

#[test]
fn after_orders_without_skipping() {
    for schedule in [Schedule::Batches, Schedule::Eager] {
        let mut fixture = Fixture::new();
        fixture.add("a-fails", &[], false, fail);
        fixture.add_after("b-after", &["a-fails", "not-installed"], succeed);
        fixture.add("c-needs", &["a-fails"], false, succeed);

        let report = fixture.run(&fixture.options(schedule, 2));

        assert!(
            status(&report, "b-after").succeeded(),
            "a failed `after` target is no reason to skip, {schedule:?}: {report:#?}"
        );
        assert!(
            matches!(status(&report, "c-needs"), Status::Skipped { .. }),
            "{schedule:?}: {report:#?}"
        );
        let spans: BTreeMap<String, Span> = fixture
            .spans()
            .into_iter()
            .map(|span| (span.module.clone(), span))
            .collect();
        assert!(
            spans["a-fails"].end <= spans["b-after"].start,
            "b-after waits for a-fails, {schedule:?}"
        );
    }
}

#[test]
fn fail_fast_lets_running_modules_finish() {
    let mut fixture = Fixture::new();
    fixture.add("a-fails", &[], false, fail);
    fixture.add("b-slow", &[], false, sleep_then_succeed(50));
    let mut options = fixture.options(Schedule::Batches, 2);
    options.fail_fast = true;

    let report = fixture.run(&options);

    assert!(matches!(status(&report, "a-fails"), Status::Failed(_)));
    assert!(
        status(&report, "b-slow").succeeded(),
        "a module already running when another failed runs to its end: {report:#?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Timeouts and interrupts
// ---------------------------------------------------------------------------------------------

#[test]
fn timeout_abandons_stuck_module() {
    let mut fixture = Fixture::new();
    let (release, released) = mpsc::channel::<()>();
    let released = Mutex::new(released);
    let (late_call, late_result) = mpsc::channel::<Result<(), String>>();
    let late_call = Mutex::new(late_call);
    let returned = Arc::new(AtomicBool::new(false));
    let stuck_returned = Arc::clone(&returned);
    // Holds the lock on /etc/shared until released, then tries to lock again.
    fixture.add("a-stuck", &[], false, move |ctx| {
        let guard = ctx.file_lock("/etc/shared")?;
        let _ = lock(&released).recv_timeout(BLOCK_LIMIT);
        stuck_returned.store(true, Ordering::SeqCst);
        drop(guard);
        let again = ctx.file_lock("/etc/shared").map(drop);
        let _ = lock(&late_call).send(again.map_err(|error| error.to_string()));
        Ok(Outcome::changed("released"))
    });
    fixture.add("b-dependent", &["a-stuck"], false, succeed);
    fixture.add("c-independent", &[], false, |ctx| {
        let _guard = ctx.file_lock("/etc/shared")?;
        Ok(Outcome::changed("took the lock"))
    });
    // One thread: c-independent can only run if the stuck thread is not counted any more.
    let mut options = fixture.options(Schedule::Batches, 1);
    options
        .module_timeouts
        .insert("a-stuck".to_owned(), Duration::from_millis(100));

    let report = fixture.run(&options);

    assert!(
        !returned.load(Ordering::SeqCst),
        "the run waited for the stuck module"
    );
    assert_eq!(
        status(&report, "a-stuck"),
        &Status::TimedOut {
            limit: Duration::from_millis(100)
        }
    );
    assert_eq!(
        status(&report, "b-dependent"),
        &Status::Skipped {
            dependency: "a-stuck".to_owned(),
            failed: "a-stuck".to_owned(),
            cause: SkipCause::TimedOut,
        }
    );
    assert_eq!(
        status(&report, "c-independent"),
        &Status::Changed("took the lock".to_owned()),
        "the lock the stuck module held was released"
    );

    release.send(()).unwrap();
    let late = late_result
        .recv_timeout(BLOCK_LIMIT)
        .expect("the abandoned module reports its late lock call");
    let error = late.expect_err("an abandoned module cannot take locks any more");
    assert!(error.contains("abandoned"), "{error}");
}

#[test]
fn run_timeout_applies_to_modules_without_own() {
    let mut fixture = Fixture::new();
    let (stuck, release, _) = blocker();
    fixture.add("stuck", &[], false, stuck);
    fixture.add("patient", &[], false, sleep_then_succeed(100));
    let mut options = fixture.options(Schedule::Eager, 2);
    options.timeout = Some(Duration::from_millis(20));
    options
        .module_timeouts
        .insert("patient".to_owned(), Duration::from_secs(60));

    let report = fixture.run(&options);
    let _ = release.send(());

    assert_eq!(
        status(&report, "stuck"),
        &Status::TimedOut {
            limit: Duration::from_millis(20)
        }
    );
    assert!(
        status(&report, "patient").succeeded(),
        "a module's own timeout replaces the run's: {report:#?}"
    );
    assert_eq!(
        options.timeout_for("other"),
        Some(Duration::from_millis(20))
    );
}

/// Builds a run where `a-trigger` triggers the interrupt `triggers` times while `b-blocked`
/// runs beside it, and `c-later` waits in the next batch.
fn interrupted_fixture(
    interrupt: &Interrupt,
    triggers: usize,
) -> (Fixture, Sender<()>, Arc<AtomicBool>) {
    let mut fixture = Fixture::new();
    let (blocked, release, returned) = blocker();
    let trigger = interrupt.clone();
    fixture.add("a-trigger", &[], false, move |_| {
        for _ in 0..triggers {
            trigger.trigger();
        }
        Ok(Outcome::changed("interrupted the run"))
    });
    fixture.add("b-blocked", &[], false, blocked);
    fixture.add("c-later", &["a-trigger"], false, succeed);
    (fixture, release, returned)
}

#[test]
fn interrupt_abandons_after_grace() {
    let interrupt = Interrupt::new();
    let (fixture, release, returned) = interrupted_fixture(&interrupt, 1);
    let mut options = fixture.options(Schedule::Batches, 2);
    options.interrupt = Some(interrupt);
    options.interrupt_grace = Duration::from_millis(100);

    let report = fixture.run(&options);
    let blocked_returned = returned.load(Ordering::SeqCst);
    let _ = release.send(());

    assert!(report.interrupted);
    assert!(!blocked_returned, "the run waited for the blocked module");
    assert!(status(&report, "a-trigger").succeeded());
    assert_eq!(status(&report, "b-blocked"), &Status::Interrupted);
    assert_eq!(
        status(&report, "c-later"),
        &Status::NotStarted(StopReason::Interrupted)
    );
}

#[test]
fn second_interrupt_ends_grace_at_once() {
    let interrupt = Interrupt::new();
    let (fixture, release, _) = interrupted_fixture(&interrupt, 2);
    let mut options = fixture.options(Schedule::Batches, 2);
    options.interrupt = Some(interrupt);
    // Longer than BLOCK_LIMIT: if the grace ran its course, b-blocked would give up and end
    // unchanged instead of being abandoned.
    options.interrupt_grace = BLOCK_LIMIT * 2;

    let report = fixture.run(&options);
    let _ = release.send(());

    assert!(report.interrupted);
    assert_eq!(status(&report, "b-blocked"), &Status::Interrupted);
}

// ---------------------------------------------------------------------------------------------
// Invalid input
// ---------------------------------------------------------------------------------------------

#[test]
fn same_batch_dependency_is_rejected() {
    let mut fixture = Fixture::new();
    fixture.add("a", &[], false, succeed);
    fixture.add("b", &["a"], false, succeed);
    let plan = Plan {
        batches: vec![Batch {
            modules: vec!["a".to_owned(), "b".to_owned()],
            sequential: false,
        }],
    };

    let result = execute::execute(
        &plan,
        &fixture.modules,
        &BTreeMap::new(),
        &fixture.options(Schedule::Eager, 2),
    );

    assert!(
        matches!(result, Err(ExecuteError::UnorderedPlan { ref module, ref dependency })
            if module == "b" && dependency == "a"),
        "{result:?}"
    );
    assert!(fixture.spans().is_empty(), "nothing runs");
}

#[test]
fn unknown_planned_module_is_rejected() {
    let fixture = Fixture::new();
    let plan = Plan {
        batches: vec![Batch {
            modules: vec!["ghost".to_owned()],
            sequential: false,
        }],
    };

    let result = execute::execute(
        &plan,
        &fixture.modules,
        &BTreeMap::new(),
        &fixture.options(Schedule::Batches, 1),
    );

    assert!(
        matches!(result, Err(ExecuteError::MissingModule { ref name }) if name == "ghost"),
        "{result:?}"
    );
}

#[test]
fn module_planned_twice_is_rejected() {
    let mut fixture = Fixture::new();
    fixture.add("a", &[], false, succeed);
    let plan = Plan {
        batches: vec![
            Batch {
                modules: vec!["a".to_owned()],
                sequential: false,
            },
            Batch {
                modules: vec!["a".to_owned()],
                sequential: false,
            },
        ],
    };

    let result = execute::execute(
        &plan,
        &fixture.modules,
        &BTreeMap::new(),
        &fixture.options(Schedule::Batches, 1),
    );

    assert!(
        matches!(result, Err(ExecuteError::DuplicateModule { ref name }) if name == "a"),
        "{result:?}"
    );
    assert!(fixture.spans().is_empty(), "nothing runs");
}

#[test]
fn first_plan_problem_is_reported() {
    let mut fixture = Fixture::new();
    fixture.add("a", &[], false, succeed);
    let cases: [(&[&str], &str); 2] = [
        (&["ghost", "a", "a"], "missing ghost"),
        (&["a", "a", "ghost"], "duplicate a"),
    ];
    for (names, expected) in cases {
        let plan = Plan {
            batches: vec![Batch {
                modules: names.iter().map(|name| name.to_string()).collect(),
                sequential: false,
            }],
        };

        let result = execute::execute(
            &plan,
            &fixture.modules,
            &BTreeMap::new(),
            &fixture.options(Schedule::Batches, 1),
        );

        let problem = match &result {
            Err(ExecuteError::MissingModule { name }) => format!("missing {name}"),
            Err(ExecuteError::DuplicateModule { name }) => format!("duplicate {name}"),
            other => format!("{other:?}"),
        };
        assert_eq!(problem, expected, "plan {names:?}");
    }
}

#[test]
#[should_panic(expected = "must map each module's name to that module")]
fn modules_under_other_names_panic() {
    let mut fixture = Fixture::new();
    fixture.add("a", &[], false, succeed);
    fixture.add("b", &[], false, succeed);
    let swapped = BTreeMap::from([
        ("a".to_owned(), Arc::clone(&fixture.modules["b"])),
        ("b".to_owned(), Arc::clone(&fixture.modules["a"])),
    ]);
    let plan = Plan {
        batches: vec![Batch {
            modules: vec!["a".to_owned(), "b".to_owned()],
            sequential: false,
        }],
    };

    let _ = execute::execute(
        &plan,
        &swapped,
        &BTreeMap::new(),
        &fixture.options(Schedule::Batches, 1),
    );
}

#[test]
fn empty_plan_runs_nothing() {
    let fixture = Fixture::new();
    for schedule in [Schedule::Batches, Schedule::Eager] {
        let report = fixture.run(&fixture.options(schedule, 2));
        assert!(report.modules.is_empty());
        assert!(report.all_succeeded());
    }
}

#[test]
fn huge_timeouts_mean_no_limit() {
    let mut fixture = Fixture::new();
    fixture.add("a-holder", &[], false, |ctx| {
        let _guard = ctx.file_lock("/etc/shared")?;
        thread::sleep(Duration::from_millis(50));
        Ok(Outcome::changed("held the lock"))
    });
    fixture.add("b-waiter", &[], false, |ctx| {
        // Starts while a-holder most likely holds the lock, so the request waits.
        thread::sleep(Duration::from_millis(10));
        let _guard = ctx.file_lock("/etc/shared")?;
        Ok(Outcome::changed("took the lock"))
    });
    for schedule in [Schedule::Batches, Schedule::Eager] {
        let mut options = fixture.options(schedule, 2);
        options.timeout = Some(Duration::MAX);
        options
            .module_timeouts
            .insert("a-holder".to_owned(), Duration::from_secs(u64::MAX));
        options.lock_timeout = Some(Duration::MAX);

        let report = fixture.run(&options);

        assert_eq!(
            status(&report, "a-holder"),
            &Status::Changed("held the lock".to_owned()),
            "{schedule:?}"
        );
        assert_eq!(
            status(&report, "b-waiter"),
            &Status::Changed("took the lock".to_owned()),
            "{schedule:?}"
        );
    }
}
