//! Run length against the lower bound: graphs of sleeping modules in a few shapes, run in both
//! schedules at several thread counts.
//!
//! Sleeping modules need no CPU, so more threads than cores still run them in parallel. The
//! lower bound of a run on `threads` threads is max(critical path, total work / threads), both
//! from the nominal sleeps, so the time a sleep overshoots counts against the schedule.
//!
//! Eager runs come in two kinds: without a durations file, so every module weighs the same as
//! in a first run, and with a file that an untimed run has filled, as in every later run.

use std::time::Duration;

use configurator::execute::{RunOptions, Schedule};

use super::{Fixture, Workload, median, pick_distinct};

/// Modules per graph.
const MODULES: usize = 60;
/// Range of the modules' sleeps, in milliseconds.
const SLEEP_MS: std::ops::RangeInclusive<u64> = 5..=40;
const THREADS: [usize; 2] = [2, 4];
/// Timed runs of each configuration; the table shows the median and the maximum.
const REPEATS: usize = 3;

/// The shape of a generated graph.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// Module `i` depends, with probability 1/4, on one random module before it: many
    /// independent modules and short chains.
    Wide,
    /// Module `i` depends on one random module among the 3 before it: long chains.
    Deep,
    /// Module `i` depends on 0 to 3 random modules among the 12 before it.
    Mixed,
}

impl Shape {
    const ALL: [Shape; 3] = [Shape::Wide, Shape::Deep, Shape::Mixed];

    fn name(self) -> &'static str {
        match self {
            Shape::Wide => "wide",
            Shape::Deep => "deep",
            Shape::Mixed => "mixed",
        }
    }

    fn seed(self) -> u64 {
        match self {
            Shape::Wide => 1,
            Shape::Deep => 2,
            Shape::Mixed => 3,
        }
    }

    fn parents(self, rng: &mut fastrand::Rng, index: usize) -> Vec<usize> {
        match self {
            Shape::Wide if rng.u8(0..4) == 0 => pick_distinct(rng, 0..index, 1),
            Shape::Wide => Vec::new(),
            Shape::Deep => pick_distinct(rng, index.saturating_sub(3)..index, 1),
            Shape::Mixed => {
                let count = rng.usize(0..=3);
                pick_distinct(rng, index.saturating_sub(12)..index, count)
            }
        }
    }

    fn workload(self) -> Workload {
        let mut rng = fastrand::Rng::with_seed(self.seed());
        let mut parents = Vec::with_capacity(MODULES);
        let mut sleeps = Vec::with_capacity(MODULES);
        for index in 0..MODULES {
            parents.push(self.parents(&mut rng, index));
            sleeps.push(Duration::from_millis(rng.u64(SLEEP_MS)));
        }
        Workload::new(parents, sleeps)
    }
}

pub(super) fn run() {
    println!(
        "run length / lower bound: {MODULES} sleeping modules of {}-{} ms, median (max) of \
         {REPEATS} runs",
        SLEEP_MS.start(),
        SLEEP_MS.end()
    );
    println!(
        "{:<6} {:>7} {:>9} {:>11} {:>9} {:>15} {:>15} {:>15}",
        "shape",
        "threads",
        "critical",
        "work/thread",
        "bound",
        "batches",
        "eager, first",
        "eager, later"
    );
    for shape in Shape::ALL {
        let workload = shape.workload();
        let fixture = Fixture::new(&workload);
        let critical_path = critical_path(&workload);
        let total_work: Duration = workload.sleeps.iter().sum();

        for threads in THREADS {
            let per_thread = total_work / u32::try_from(threads).expect("fits");
            let bound = critical_path.max(per_thread);

            let batches = fixture.options(Schedule::Batches, threads);
            let eager_first = fixture.options(Schedule::Eager, threads);
            let mut eager_later = fixture.options(Schedule::Eager, threads);
            let durations_file = fixture.durations_file();
            // Each thread count starts its history afresh.
            let _ = std::fs::remove_file(&durations_file);
            eager_later.durations_file = Some(durations_file);
            fixture.run(&eager_later);

            println!(
                "{:<6} {:>7} {:>9} {:>11} {:>9} {:>15} {:>15} {:>15}",
                shape.name(),
                threads,
                format!("{:.0?}", critical_path),
                format!("{:.0?}", per_thread),
                format!("{:.0?}", bound),
                ratios(&fixture, &batches, bound),
                ratios(&fixture, &eager_first, bound),
                ratios(&fixture, &eager_later, bound),
            );
        }
    }
}

/// Runs `options` [`REPEATS`] times and formats the median and maximum of run length / `bound`.
fn ratios(fixture: &Fixture, options: &RunOptions, bound: Duration) -> String {
    let ratios: Vec<f64> = (0..REPEATS)
        .map(|_| fixture.run(options).elapsed.as_secs_f64() / bound.as_secs_f64())
        .collect();
    let max = ratios.iter().copied().fold(f64::MIN, f64::max);
    format!("{:.3} ({:.3})", median(&ratios), max)
}

/// Returns the largest total sleep along a dependency path.
fn critical_path(workload: &Workload) -> Duration {
    // Parents are numbered below their modules, so one pass in number order suffices.
    let mut finish: Vec<Duration> = Vec::with_capacity(workload.len());
    for index in 0..workload.len() {
        let start = workload.parents[index]
            .iter()
            .map(|&parent| finish[parent])
            .max()
            .unwrap_or(Duration::ZERO);
        finish.push(start + workload.sleeps[index]);
    }
    finish.into_iter().max().unwrap_or(Duration::ZERO)
}
