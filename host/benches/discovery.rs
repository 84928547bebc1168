//! Benchmark of plugin discovery and loading over a directory of copies of a release build of
//! the bundled `motd` module, against a bare loop of `dlopen` + `dlsym` over the same files.
//!
//! Each measurement is a fresh process of this benchmark binary, because a process loads a
//! library only once, so both sides pay the same process start-up:
//!
//! - `--bare-loop DIR` runs the bare loop;
//! - `--discover DIR CACHE` runs the host library's discovery and loading
//!   (`Discovered::scan`) with the strict trust policy and the scan cache file `CACHE`, either
//!   cold (the cache removed before) or warm. Its plugin scanner is this binary, which serves
//!   `__scan` with the host's helper, because the host trusts the layout check of a scanner
//!   only when it is the running executable, as `configurator` is its own scanner.
//!
//! `configurator list` runs as well, cold and warm, for information: those rows add the CLI's
//! start-up and the SHA-256 of every file, which `list` shows, and are no target measurement.
//! The page cache is warm in every variant: "cold" means the scan cache only.
//!
//! Run it in release mode, as `cargo bench` does:
//! `cargo bench -p configurator --bench discovery [-- --plugins N --rounds N]`.
//! `docs/benchmarks.md` records the results.

use std::fs;
use std::hint::black_box;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use abi_stable::library::ROOT_MODULE_LOADER_NAME_WITH_NUL;
use configurator::modules::Discovered;
use configurator::scan::{self, DEFAULT_SCAN_TIMEOUT, SCAN_SUBCOMMAND, ScanOptions};
use serde_json::Value;

/// The option that makes this binary run the bare loop over a directory instead.
const BARE_LOOP: &str = "--bare-loop";

/// The option that makes this binary run the host's discovery and loading over a directory.
const DISCOVER: &str = "--discover";

/// The bundled module whose release build is copied into the plugin directory.
const PLUGIN_PACKAGE: &str = "configurator-module-motd";

/// The maximum ratio to the bare loop's median that each target allows.
const WARM_TARGET: f64 = 1.2;
const COLD_TARGET: f64 = 3.0;

const USAGE: &str = "usage: discovery [--plugins N] [--rounds N]";

/// The settings taken from the command line.
struct Settings {
    plugins: usize,
    rounds: usize,
}

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    match &arguments[..] {
        [flag, dir] if flag == BARE_LOOP => {
            let loaded = bare_loop(Path::new(dir));
            black_box(loaded);
            return ExitCode::SUCCESS;
        }
        [flag, dir, cache] if flag == DISCOVER => {
            return discover(Path::new(dir), Path::new(cache));
        }
        [subcommand] if subcommand == SCAN_SUBCOMMAND => {
            return match scan::helper::run() {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("the plugin scanner failed: {error:#}");
                    ExitCode::FAILURE
                }
            };
        }
        _ => {}
    }
    let settings = match parse_settings(&arguments) {
        Ok(settings) => settings,
        Err(message) => {
            eprintln!("{message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    run(&settings);
    ExitCode::SUCCESS
}

/// Discovers and loads every plugin of `dir` as the host does for `run`, with this binary as
/// the plugin scanner, and fails unless every file loaded.
fn discover(dir: &Path, cache: &Path) -> ExitCode {
    let scanner_program = match std::env::current_exe() {
        Ok(program) => program,
        Err(error) => {
            eprintln!("cannot find the benchmark's own executable: {error}");
            return ExitCode::FAILURE;
        }
    };
    let options = ScanOptions {
        strict: true,
        sha256_pins: Default::default(),
        cache_file: Some(cache.to_owned()),
        scanner_program,
        scan_timeout: DEFAULT_SCAN_TIMEOUT,
        hash_every_plugin: false,
        interrupt: None,
        settings: Default::default(),
    };
    let discovered = match Discovered::scan(dir, &options) {
        Ok(discovered) => discovered,
        Err(error) => {
            eprintln!("discovery in {} failed: {error}", dir.display());
            return ExitCode::FAILURE;
        }
    };
    if let Some(rejection) = discovered.rejected.first() {
        eprintln!(
            "{} file(s) rejected, such as {}: {}",
            discovered.rejected.len(),
            rejection.path.display(),
            rejection.reason
        );
        return ExitCode::FAILURE;
    }
    black_box(discovered.plugins.len());
    // The host keeps its plugins loaded until it exits.
    std::mem::forget(discovered);
    ExitCode::SUCCESS
}

fn parse_settings(arguments: &[String]) -> Result<Settings, String> {
    let mut settings = Settings {
        plugins: 200,
        rounds: 10,
    };
    let mut arguments = arguments.iter();
    while let Some(argument) = arguments.next() {
        let mut number = |name: &str| {
            arguments
                .next()
                .and_then(|value| value.parse::<usize>().ok())
                .filter(|&value| value > 0)
                .ok_or_else(|| format!("{name} takes a positive number"))
        };
        match argument.as_str() {
            "--plugins" => settings.plugins = number("--plugins")?,
            "--rounds" => settings.rounds = number("--rounds")?,
            // `cargo bench` passes `--bench` to every benchmark binary.
            "--bench" => {}
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(settings)
}

/// Loads every `*.so` file of `dir` with `dlopen` and looks up abi_stable's root module
/// symbol in it, as the host does, and returns how many it loaded. The libraries stay loaded,
/// as in the host.
#[expect(
    unsafe_code,
    reason = "dlopen runs library constructors and dlsym returns an untyped address; neither \
              has a safe form"
)]
fn bare_loop(dir: &Path) -> usize {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .expect("the plugin directory can be listed")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "so"))
        .collect();
    paths.sort();
    for path in &paths {
        // SAFETY: the files are copies of a bundled module that this benchmark built from the
        // workspace; loading runs only the constructors of its Rust runtime.
        let library = unsafe { libloading::Library::new(path) }
            .unwrap_or_else(|error| panic!("cannot load {}: {error}", path.display()));
        // SAFETY: the symbol's address is only passed to `black_box`, never read or called, so
        // the pointer type does not matter.
        let symbol =
            unsafe { library.get::<*const ()>(ROOT_MODULE_LOADER_NAME_WITH_NUL.as_bytes()) }
                .unwrap_or_else(|error| panic!("no root module in {}: {error}", path.display()));
        black_box(*symbol);
        std::mem::forget(library);
    }
    paths.len()
}

fn run(settings: &Settings) {
    let plugin = build_plugin();
    let host = Path::new(env!("CARGO_BIN_EXE_configurator"));
    let itself = std::env::current_exe().expect("the benchmark finds its own executable");

    let work = tempfile::Builder::new()
        .prefix("configurator-bench-")
        .tempdir()
        .expect("a temporary directory");
    let plugins = work.path().join("plugins");
    let empty = work.path().join("empty");
    for dir in [&plugins, &empty] {
        fs::create_dir(dir).expect("a plugin directory");
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).expect("its mode");
    }
    for index in 0..settings.plugins {
        let copy = plugins.join(format!("motd-{index:03}.so"));
        fs::copy(&plugin, &copy).expect("a copy of the plugin");
        fs::set_permissions(&copy, fs::Permissions::from_mode(0o755)).expect("its mode");
    }
    // One cache file per program, because each program's cache names its own executable.
    let library_cache = work.path().join("scan-cache-discover.json");
    let list_cache = work.path().join("scan-cache-list.json");
    let config = work.path().join("configurator.toml");
    fs::write(
        &config,
        format!("scan_cache = {:?}\n", list_cache.display().to_string()),
    )
    .expect("the configuration file");

    let list = |dir: &Path| {
        let mut command = Command::new(host);
        command
            .arg("list")
            .arg("--plugins")
            .arg(dir)
            .arg("--config")
            .arg(&config);
        command
    };
    let bare = |dir: &Path| {
        let mut command = Command::new(&itself);
        command.arg(BARE_LOOP).arg(dir);
        command
    };
    let discover = |dir: &Path| {
        let mut command = Command::new(&itself);
        command.arg(DISCOVER).arg(dir).arg(&library_cache);
        command
    };
    let remove = |cache: &Path| match fs::remove_file(cache) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => panic!("cannot remove {}: {error}", cache.display()),
    };

    println!(
        "discovery and loading of {} copies of {} ({} bytes each), {} rounds, median and \
         minimum wall time of a whole process:",
        settings.plugins,
        plugin.display(),
        fs::metadata(&plugin).map_or(0, |metadata| metadata.len()),
        settings.rounds
    );
    let names = [
        "bare dlopen + dlsym loop, empty directory",
        "host discovery and loading, empty directory",
        "bare dlopen + dlsym loop",
        "host discovery and loading, cold scan cache",
        "host discovery and loading, warm scan cache",
        "extra, not the target: configurator list, empty directory",
        "extra, not the target: configurator list, cold scan cache",
        "extra, not the target: configurator list, warm scan cache",
    ];
    let mut samples: [Vec<Duration>; 8] = Default::default();
    for _ in 0..settings.rounds {
        samples[0].push(time(&mut bare(&empty)));
        remove(&library_cache);
        samples[1].push(time(&mut discover(&empty)));
        samples[2].push(time(&mut bare(&plugins)));
        remove(&library_cache);
        samples[3].push(time(&mut discover(&plugins)));
        samples[4].push(time(&mut discover(&plugins)));
        samples[5].push(time(&mut list(&empty)));
        remove(&list_cache);
        samples[6].push(time(&mut list(&plugins)));
        samples[7].push(time(&mut list(&plugins)));
    }

    let bare_median = median(&samples[2]);
    let bare_minimum = minimum(&samples[2]);
    println!("| variant | median | minimum | median / bare loop | minimum / bare loop |");
    println!("| --- | --- | --- | --- | --- |");
    for (name, samples) in names.iter().zip(&samples) {
        println!(
            "| {name} | {} | {} | {:.2} | {:.2} |",
            millis(median(samples)),
            millis(minimum(samples)),
            median(samples).as_secs_f64() / bare_median.as_secs_f64(),
            minimum(samples).as_secs_f64() / bare_minimum.as_secs_f64()
        );
    }
    let ratio = |index: usize| median(&samples[index]).as_secs_f64() / bare_median.as_secs_f64();
    println!(
        "targets (medians): warm within {WARM_TARGET}x of the bare loop: {} ({:.2}x); cold \
         within {COLD_TARGET}x: {} ({:.2}x)",
        verdict(ratio(4) <= WARM_TARGET),
        ratio(4),
        verdict(ratio(3) <= COLD_TARGET),
        ratio(3)
    );
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "not met" }
}

/// Runs `command` to completion with its output discarded and returns how long it took.
fn time(command: &mut Command) -> Duration {
    let started = Instant::now();
    let status = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap_or_else(|error| panic!("cannot run {command:?}: {error}"));
    let elapsed = started.elapsed();
    assert!(status.success(), "{command:?} failed with {status}");
    elapsed
}

fn minimum(samples: &[Duration]) -> Duration {
    *samples.iter().min().expect("at least one round")
}

fn median(samples: &[Duration]) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

fn millis(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

/// Builds the bundled module in release mode and returns its library, found from cargo's JSON
/// messages.
fn build_plugin() -> PathBuf {
    let output = Command::new(env!("CARGO"))
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .args([
            "build",
            "--release",
            "--message-format=json-render-diagnostics",
        ])
        .args(["--package", PLUGIN_PACKAGE])
        .stderr(Stdio::inherit())
        .output()
        .expect("cargo runs");
    assert!(output.status.success(), "building {PLUGIN_PACKAGE} failed");
    let target = PLUGIN_PACKAGE.replace('-', "_");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .filter(|message| message["target"]["name"] == target.as_str())
        .filter_map(|message| message["filenames"].as_array().cloned())
        .flatten()
        .filter_map(|file| file.as_str().map(PathBuf::from))
        .find(|file| file.extension().is_some_and(|extension| extension == "so"))
        .unwrap_or_else(|| panic!("cargo reported no library for {PLUGIN_PACKAGE}"))
}
