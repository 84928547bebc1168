//! Benchmarks of host-mediated file locks against bare `flock`.
//!
//! 1. Uncontended: one thread takes and releases `Context::file_lock` on one path, through the
//!    real `HostServices` object a plugin receives, against a loop of `open` + `flock` +
//!    `close` on the same sidecar file. Target: within 1.5x of the bare loop.
//! 2. Contended: 8 threads each append lines to one file, every append under `file_lock`,
//!    against the same loop where every append takes `flock` on a sidecar file directly.
//!    Target: at least 0.8x of the bare loop's throughput.
//!
//! Run with `cargo bench -p configurator --bench locks`; results and the machine are in
//! docs/benchmarks.md.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use configurator::locks::LockManager;
use configurator::services::ModuleServices;
use plugin_api::Context;

/// Lock and release cycles per uncontended measurement.
const UNCONTENDED_CYCLES: u32 = 20_000;
/// Threads of the contended measurement.
const THREADS: usize = 8;
/// Appends per thread in the contended measurement.
const APPENDS_PER_THREAD: u32 = 2_000;
/// Measurements per variant; the median is reported.
const ROUNDS: usize = 7;

fn main() {
    let dir = tempfile::tempdir().expect("failed to create a temporary directory");
    let root = std::fs::canonicalize(dir.path()).expect("failed to resolve the temporary root");
    std::fs::create_dir_all(root.join("etc")).expect("failed to create etc");
    std::fs::write(root.join("etc/hosts"), "127.0.0.1 localhost\n")
        .expect("failed to create etc/hosts");

    let bare = median(|| bare_uncontended(&root));
    let host = median(|| host_uncontended(&root));
    println!("uncontended lock and release, {UNCONTENDED_CYCLES} cycles, median of {ROUNDS}:");
    println!(
        "  bare open + flock + close: {:>8.2} µs per cycle",
        per_cycle(bare)
    );
    println!(
        "  Context::file_lock:        {:>8.2} µs per cycle",
        per_cycle(host)
    );
    println!(
        "  ratio: {:.2} (target <= 1.5)",
        host.as_secs_f64() / bare.as_secs_f64()
    );

    let appends = f64::from(APPENDS_PER_THREAD) * THREADS as f64;
    let bare = median(|| bare_contended(&root));
    let host = median(|| host_contended(&root));
    println!("contended appends, {THREADS} threads x {APPENDS_PER_THREAD}, median of {ROUNDS}:");
    println!(
        "  bare flock:         {:>10.0} appends/s",
        appends / bare.as_secs_f64()
    );
    println!(
        "  Context::file_lock: {:>10.0} appends/s",
        appends / host.as_secs_f64()
    );
    println!(
        "  throughput ratio: {:.2} (target >= 0.8)",
        bare.as_secs_f64() / host.as_secs_f64()
    );
}

fn per_cycle(total: Duration) -> f64 {
    total.as_secs_f64() * 1e6 / f64::from(UNCONTENDED_CYCLES)
}

/// Runs `measure` once to warm up, then `ROUNDS` times, and returns the median.
fn median(mut measure: impl FnMut() -> Duration) -> Duration {
    measure();
    let mut times: Vec<Duration> = (0..ROUNDS).map(|_| measure()).collect();
    times.sort();
    times[ROUNDS / 2]
}

fn bare_lock(sidecar: &Path) -> File {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(sidecar)
        .expect("failed to open the sidecar file");
    let mut lock = fd_lock::RwLock::new(file);
    std::mem::forget(lock.write().expect("failed to flock the sidecar file"));
    lock.into_inner()
}

fn bare_uncontended(root: &Path) -> Duration {
    let sidecar = root.join("bare-uncontended.lock");
    let started = Instant::now();
    for _ in 0..UNCONTENDED_CYCLES {
        // Closing the only descriptor releases the flock, as in the host.
        drop(bare_lock(&sidecar));
    }
    started.elapsed()
}

fn services(root: &Path, module: &str, locks: &Arc<LockManager>) -> Context {
    let services = ModuleServices::new(module, root, Arc::clone(locks));
    Context::new(services.to_ffi(), module, "")
}

fn host_uncontended(root: &Path) -> Duration {
    let locks = LockManager::new(root.join("run/configurator/locks"));
    let context = services(root, "bench", &locks);
    let started = Instant::now();
    for _ in 0..UNCONTENDED_CYCLES {
        drop(context.file_lock("/etc/hosts").expect("failed to lock"));
    }
    started.elapsed()
}

fn append(path: &Path, line: &str) {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("failed to open the shared file");
    file.write_all(line.as_bytes())
        .expect("failed to append to the shared file");
}

fn bare_contended(root: &Path) -> Duration {
    let target = root.join("bare-shared.log");
    let sidecar = root.join("bare-shared.lock");
    let _ = std::fs::remove_file(&target);
    let started = Instant::now();
    thread::scope(|scope| {
        for thread_index in 0..THREADS {
            let (target, sidecar) = (&target, &sidecar);
            scope.spawn(move || {
                for index in 0..APPENDS_PER_THREAD {
                    let lock = bare_lock(sidecar);
                    append(target, &format!("bare-{thread_index} {index}\n"));
                    drop(lock);
                }
            });
        }
    });
    started.elapsed()
}

fn host_contended(root: &Path) -> Duration {
    let locks = LockManager::new(root.join("run/configurator/locks"));
    let _ = std::fs::remove_file(root.join("etc/shared.log"));
    let started = Instant::now();
    thread::scope(|scope| {
        for thread_index in 0..THREADS {
            let locks = &locks;
            scope.spawn(move || {
                let context = services(root, &format!("module-{thread_index}"), locks);
                for index in 0..APPENDS_PER_THREAD {
                    let lock = context
                        .file_lock("/etc/shared.log")
                        .expect("failed to lock");
                    append(lock.path(), &format!("module-{thread_index} {index}\n"));
                    drop(lock);
                }
            });
        }
    });
    started.elapsed()
}
