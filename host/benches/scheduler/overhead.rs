//! Scheduling overhead per module: `execute` on no-op modules in a random graph, in both
//! schedules, against a bare rayon scope running as many no-op closures on as many threads.
//!
//! The overhead per module is (median `execute` time - median bare time) / modules. The bare
//! pool is built before its clock starts, while `execute` builds its pool inside the timed
//! call, so the overhead includes the pool's start.

use std::hint::black_box;
use std::time::{Duration, Instant};

use configurator::execute::Schedule;

use super::{Fixture, Workload, machine_threads, median, pick_distinct};

/// Modules per run.
const MODULES: usize = 10_000;
/// Maximum dependencies of a module, each on a random module before it.
const MAX_PARENTS: usize = 3;
const SEED: u64 = 0x5eed;
/// Untimed runs of each variant before measuring, to fault in memory and warm caches.
const WARMUP_ROUNDS: usize = 3;
/// Timed runs of each variant; the variants take turns so that drift affects all alike.
const ROUNDS: usize = 30;

pub(super) fn run() {
    let jobs = machine_threads();
    let workload = random_workload();
    let fixture = Fixture::new(&workload);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .build()
        .expect("failed to build the baseline pool");

    let edges: usize = workload.parents.iter().map(Vec::len).sum();
    println!(
        "scheduling overhead: {MODULES} no-op modules, {edges} dependencies, {} batches, \
         {jobs} threads, {ROUNDS} timed rounds",
        fixture.plan.batches.len()
    );

    let batches = fixture.options(Schedule::Batches, jobs);
    let eager = fixture.options(Schedule::Eager, jobs);
    let mut bare_times = Vec::new();
    let mut batches_times = Vec::new();
    let mut eager_times = Vec::new();
    for round in 0..WARMUP_ROUNDS + ROUNDS {
        let (bare, ()) = time(|| bare_scope(&pool));
        // Each report is checked and dropped after its clock stopped.
        let (batches, report) = time(|| fixture.execute(&batches));
        Fixture::check(&report);
        drop(report);
        let (eager, report) = time(|| fixture.execute(&eager));
        Fixture::check(&report);
        drop(report);
        if round >= WARMUP_ROUNDS {
            bare_times.push(bare);
            batches_times.push(batches);
            eager_times.push(eager);
        }
    }

    let bare = median(&bare_times);
    println!(
        "{:<28} {:>12} {:>12} {:>18}",
        "variant", "median", "min", "overhead/module"
    );
    println!(
        "{:<28} {:>12} {:>12} {:>18}",
        "bare rayon scope",
        format!("{bare:.2?}"),
        format!("{:.2?}", min(&bare_times)),
        "-"
    );
    for (name, times) in [
        ("execute, batches", &batches_times),
        ("execute, eager", &eager_times),
    ] {
        let typical = median(times);
        let overhead = typical.saturating_sub(bare) / u32::try_from(MODULES).expect("fits");
        println!(
            "{name:<28} {:>12} {:>12} {:>18}",
            format!("{typical:.2?}"),
            format!("{:.2?}", min(times)),
            format!("{overhead:.2?}")
        );
    }
}

/// Builds the graph: module `i` depends on up to [`MAX_PARENTS`] distinct random modules
/// before it, the count drawn uniformly from 0 to that maximum.
fn random_workload() -> Workload {
    let mut rng = fastrand::Rng::with_seed(SEED);
    let parents = (0..MODULES)
        .map(|index| {
            let count = rng.usize(0..=MAX_PARENTS);
            pick_distinct(&mut rng, 0..index, count)
        })
        .collect();
    Workload::new(parents, vec![Duration::ZERO; MODULES])
}

/// Runs [`MODULES`] no-op closures in one rayon scope on `pool`.
fn bare_scope(pool: &rayon::ThreadPool) {
    pool.scope(|scope| {
        for index in 0..MODULES {
            scope.spawn(move |_| {
                black_box(index);
            });
        }
    });
}

/// Runs `work` and returns how long it took, with its result.
fn time<T>(work: impl FnOnce() -> T) -> (Duration, T) {
    let start = Instant::now();
    let result = work();
    (start.elapsed(), result)
}

fn min(times: &[Duration]) -> Duration {
    times.iter().copied().min().expect("at least one round")
}
