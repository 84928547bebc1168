//! Benchmark of plugin discovery and loading: `configurator list` on a directory of copies of
//! a release build of the bundled `motd` module. It runs with the plugin scan cache cold
//! (removed before each run) and warm, and compares both with a bare loop of `dlopen` + `dlsym`
//! over the same files.
//!
//! Each measurement is a fresh process, because a process loads a library only once. So every
//! number includes starting a process, and an empty plugin directory gives that baseline for
//! each program. The page cache is warm in every variant: "cold" means the scan cache only.
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
use serde_json::Value;

/// The option that makes this binary run the bare loop over a directory instead.
const BARE_LOOP: &str = "--bare-loop";

/// The bundled module whose release build is copied into the plugin directory.
const PLUGIN_PACKAGE: &str = "configurator-module-motd";

const USAGE: &str = "usage: discovery [--plugins N] [--rounds N]";

/// The settings taken from the command line.
struct Settings {
    plugins: usize,
    rounds: usize,
}

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, dir] = &arguments[..]
        && flag == BARE_LOOP
    {
        let loaded = bare_loop(Path::new(dir));
        black_box(loaded);
        return ExitCode::SUCCESS;
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
    let cache = work.path().join("scan-cache.json");
    let config = work.path().join("configurator.toml");
    fs::write(
        &config,
        format!("scan_cache = {:?}\n", cache.display().to_string()),
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
    let remove_cache = || match fs::remove_file(&cache) {
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
    let mut samples: [Vec<Duration>; 5] = Default::default();
    for _ in 0..settings.rounds {
        samples[0].push(time(&mut bare(&empty)));
        samples[1].push(time(&mut list(&empty)));
        samples[2].push(time(&mut bare(&plugins)));
        remove_cache();
        samples[3].push(time(&mut list(&plugins)));
        samples[4].push(time(&mut list(&plugins)));
    }

    let names = [
        "bare dlopen + dlsym loop, empty directory",
        "configurator list, empty directory",
        "bare dlopen + dlsym loop",
        "configurator list, cold scan cache",
        "configurator list, warm scan cache",
    ];
    let bare_median = median(&samples[2]);
    println!("| variant | median | minimum | median / bare loop |");
    println!("| --- | --- | --- | --- |");
    for (name, samples) in names.iter().zip(&samples) {
        let median = median(samples);
        println!(
            "| {name} | {} | {} | {:.2} |",
            millis(median),
            millis(*samples.iter().min().expect("at least one round")),
            median.as_secs_f64() / bare_median.as_secs_f64()
        );
    }
    let ratio = |index: usize| median(&samples[index]).as_secs_f64() / bare_median.as_secs_f64();
    println!(
        "targets: warm within 1.2x of the bare loop: {} ({:.2}x); cold within 3x: {} ({:.2}x)",
        verdict(ratio(4) <= 1.2),
        ratio(4),
        verdict(ratio(3) <= 3.0),
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
