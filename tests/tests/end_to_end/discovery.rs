//! Discovery that nothing in the plugin directory can crash or hang: a generated corpus of
//! damaged plugin files beside one entry of every kind that is no plugin, the plugin scan
//! cache, and what `list` shows.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use configurator_e2e::corpus::{self, Damage, DamagedFile};
use configurator_e2e::{Output, Sandbox, Status, artifacts};
use serde_json::Value;

use crate::path_text;
use crate::rejection::system_library;
use crate::schedule::send_signal;

/// The seed of the damaged-file corpus; change it to try other damage.
const CORPUS_SEED: u64 = 0x5eed_c0de;

/// How many damaged files the corpus has.
const CORPUS_SIZE: usize = 200;

/// The test plugins the corpus damages. The good plugins of the same directory are `alpha`
/// and `beta`, so a damaged copy that still loads never shares their module name.
const TEMPLATES: [&str; 4] = ["gamma", "delta", "epsilon", "solo"];

/// A scan timeout far above the milliseconds loading a plugin takes, even on a loaded machine,
/// and short enough that the hanging library costs little test time.
const SCAN_TIMEOUT_CONFIG: &str = "scan_timeout = 5\n";

/// Runs `run --skip-broken` and checks that it completes with the good plugins `alpha` and
/// `beta` changed.
fn run_skipping_broken(sandbox: &Sandbox) -> Output {
    let run = sandbox.run(&["--skip-broken"]);
    assert_exited_normally(&run);
    assert_eq!(run.code(), Some(0), "run --skip-broken completes\n{run}");
    for good in ["alpha", "beta"] {
        assert_eq!(
            run.recap_status(good),
            Some(Status::Changed),
            "`{good}` runs beside the broken files\n{run}"
        );
    }
    run
}

/// Asserts that the host exited with one of its own statuses, not by a signal.
fn assert_exited_normally(output: &Output) {
    assert!(
        matches!(output.code(), Some(0..=2)),
        "the host exits with status 0, 1 or 2, never by a signal\n{output}"
    );
}

/// Parses `list --format json`: the path and module name of every plugin, and the path and
/// reason of every rejected file.
fn parse_listing(output: &Output) -> (BTreeMap<PathBuf, String>, BTreeMap<PathBuf, String>) {
    let listing: Value = serde_json::from_str(&output.stdout)
        .unwrap_or_else(|err| panic!("list --format json printed invalid JSON: {err}\n{output}"));
    let field = |entry: &Value, key: &str| {
        entry[key]
            .as_str()
            .unwrap_or_else(|| panic!("`{key}` is missing in {entry}"))
            .to_owned()
    };
    let modules = listing["modules"]
        .as_array()
        .expect("the listing has `modules`")
        .iter()
        .map(|entry| (PathBuf::from(field(entry, "path")), field(entry, "name")))
        .collect();
    let rejected = listing["rejected"]
        .as_array()
        .expect("the listing has `rejected`")
        .iter()
        .map(|entry| (PathBuf::from(field(entry, "path")), field(entry, "reason")))
        .collect();
    (modules, rejected)
}

/// Returns the counts of the `-v` discovery summary: files answered by the scan cache and files
/// examined by the plugin scanner.
pub(crate) fn scan_counts(output: &Output) -> (usize, usize) {
    (
        summary_count(output, "answered by the scan cache"),
        summary_count(output, "examined by the plugin scanner"),
    )
}

/// Returns the number of files whose SHA-256 the discovery computed, from the `-v` summary.
pub(crate) fn hashed_count(output: &Output) -> usize {
    summary_count(output, "hashed with SHA-256")
}

/// Returns the number that comes right before `marker` in the `-v` discovery summary.
fn summary_count(output: &Output, marker: &str) -> usize {
    let line = output
        .stderr
        .lines()
        .find(|line| line.contains("answered by the scan cache"))
        .unwrap_or_else(|| panic!("-v prints the discovery summary\n{output}"));
    let before = &line[..line
        .find(marker)
        .unwrap_or_else(|| panic!("no `{marker}` in {line}"))];
    before
        .split_whitespace()
        .last()
        .and_then(|word| word.parse().ok())
        .unwrap_or_else(|| panic!("no count before `{marker}` in {line}"))
}

/// Returns the path of the one scan cache file the host keeps for this sandbox.
fn cache_file(sandbox: &Sandbox) -> PathBuf {
    let cache_dir = sandbox.cache_home().join("configurator");
    let mut cache_files: Vec<PathBuf> = fs::read_dir(&cache_dir)
        .expect("the host created its cache directory")
        .map(|entry| entry.expect("a cache directory entry").path())
        .collect();
    assert_eq!(cache_files.len(), 1, "one cache file: {cache_files:?}");
    cache_files.remove(0)
}

/// Returns the entries of the sandbox's one plugin scan cache file, by plugin file path.
fn cache_entries(sandbox: &Sandbox) -> BTreeMap<PathBuf, Value> {
    let text = fs::read_to_string(cache_file(sandbox)).expect("the cache is text");
    let cache: Value = serde_json::from_str(&text).expect("the cache is JSON");
    cache["entries"]
        .as_array()
        .expect("the cache has `entries`")
        .iter()
        .map(|entry| {
            let path = entry["path"].as_str().expect("each entry has a path");
            (PathBuf::from(path), entry.clone())
        })
        .collect()
}

/// Checks that the `sha256` a `list --format json` module row shows is its file's content hash.
fn assert_listed_sha256_is_content_hash(module: &Value) {
    let path = Path::new(module["path"].as_str().expect("path"));
    assert_eq!(
        module["sha256"].as_str(),
        Some(sha256sum(path).as_str()),
        "the listed SHA-256 of {} is its content's",
        path.display()
    );
}

/// Returns the files that the `-v` output lists as examined by the plugin scanner.
fn examined_files(output: &Output) -> Vec<PathBuf> {
    output
        .stderr
        .lines()
        .filter_map(|line| line.split("the plugin scanner examines ").nth(1))
        .map(|path| PathBuf::from(path.trim()))
        .collect()
}

/// Adds one entry of every kind that is no plugin and returns each path with a word its
/// rejection reason must contain.
fn add_every_kind_of_non_plugin(sandbox: &Sandbox) -> Vec<(PathBuf, &'static str)> {
    let mut entries = vec![
        (sandbox.write_plugin_bytes("empty.so", b""), "empty"),
        (
            sandbox.write_plugin_text("text.so", "# not a library\nplain text\n"),
            "text file",
        ),
        (
            sandbox.write_plugin_bytes("random.so", &random_bytes(4096, CORPUS_SEED)),
            "ELF magic number",
        ),
        (
            sandbox.write_plugin_bytes(
                "other-architecture.so",
                &corpus::for_other_architecture(artifacts().plugin("gamma")),
            ),
            "another architecture",
        ),
        (
            sandbox.add_plugin_file("libz.so", &system_library()),
            "not a Configurator plugin",
        ),
        (
            sandbox.add_plugin("crashing-constructor"),
            "crashed the plugin scanner with SIGABRT",
        ),
        (sandbox.add_plugin("hanging-constructor"), "hung"),
    ];

    let fifo = sandbox.plugins().join("fifo.so");
    let status = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(status.success(), "mkfifo {} failed", fifo.display());
    entries.push((fifo, "FIFO"));

    let directory = sandbox.plugins().join("directory.so");
    fs::create_dir(&directory).expect("failed to create a directory named .so");
    entries.push((directory, "directory"));

    let dangling = sandbox.plugins().join("dangling.so");
    std::os::unix::fs::symlink("missing-target.so", &dangling).expect("failed to make a symlink");
    entries.push((dangling, "dangling symbolic link"));

    if is_root() {
        eprintln!("running as root, who can read any file: no unreadable file in this test");
    } else {
        let unreadable = sandbox.add_plugin_file("unreadable.so", artifacts().plugin("alpha"));
        fs::set_permissions(&unreadable, fs::Permissions::from_mode(0o000))
            .expect("failed to make a file unreadable");
        entries.push((unreadable, "Permission denied"));
    }
    entries
}

fn is_root() -> bool {
    // The process owns /proc/self.
    use std::os::unix::fs::MetadataExt as _;
    fs::metadata("/proc/self").is_ok_and(|metadata| metadata.uid() == 0)
}

/// Returns `len` seeded random bytes that do not start with the ELF magic number.
fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut bytes: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
    bytes[0] = 0;
    bytes
}

/// Prints how the corpus fared, for the test log.
fn print_corpus_summary(
    damaged: &[DamagedFile],
    modules: &BTreeMap<PathBuf, String>,
    rejected: &BTreeMap<PathBuf, String>,
    cold: Duration,
) {
    // Each cause with its count and the first full reason seen.
    let mut by_cause: BTreeMap<String, (usize, &str)> = BTreeMap::new();
    for file in damaged {
        let (cause, reason) = match rejected.get(&file.path) {
            None => ("loaded as a plugin".to_owned(), ""),
            Some(reason) => {
                let cause = reason.split([':', '(']).next().unwrap_or(reason).trim();
                (cause.to_owned(), reason.as_str())
            }
        };
        by_cause.entry(cause).or_insert((0, reason)).0 += 1;
    }
    eprintln!(
        "corpus of {} damaged files, first discovery in {cold:?}: {} loaded, {} rejected",
        damaged.len(),
        damaged
            .iter()
            .filter(|file| modules.contains_key(&file.path))
            .count(),
        damaged
            .iter()
            .filter(|file| rejected.contains_key(&file.path))
            .count()
    );
    for (cause, (count, example)) in by_cause {
        eprintln!("  {count:4}  {cause}\n        for example: {example}");
    }
}

#[test]
fn damaged_and_foreign_files_never_crash_discovery() {
    let sandbox = Sandbox::with_plugins(&["alpha", "beta"]);
    sandbox.write_config(SCAN_TIMEOUT_CONFIG);
    let templates: Vec<&Path> = TEMPLATES
        .iter()
        .map(|name| artifacts().plugin(name))
        .collect();
    let damaged = corpus::damaged_plugins(sandbox.plugins(), &templates, CORPUS_SIZE, CORPUS_SEED);
    let others = add_every_kind_of_non_plugin(&sandbox);

    let started = Instant::now();
    let list = sandbox.list(&["--format", "json", "--skip-broken"]);
    let cold = started.elapsed();
    assert_exited_normally(&list);
    assert_eq!(list.code(), Some(0), "list --skip-broken succeeds\n{list}");
    let (modules, rejected) = parse_listing(&list);
    print_corpus_summary(&damaged, &modules, &rejected, cold);

    for good in ["alpha", "beta"] {
        let path = sandbox.plugins().join(format!("{good}.so"));
        assert_eq!(
            modules.get(&path).map(String::as_str),
            Some(good),
            "the good plugin {} still loads\n{list}",
            path.display()
        );
    }
    for file in &damaged {
        let loaded = modules.contains_key(&file.path);
        let reason = rejected.get(&file.path);
        assert!(
            loaded != reason.is_some(),
            "{} ({:?}) is either loaded or rejected\n{list}",
            file.path.display(),
            file.damage
        );
        if let Damage::Truncated(_) = file.damage {
            assert!(
                reason.is_some(),
                "{} ({:?}) is rejected\n{list}",
                file.path.display(),
                file.damage
            );
        }
    }
    for (path, expected) in &others {
        let reason = rejected
            .get(path)
            .unwrap_or_else(|| panic!("{} is rejected\n{list}", path.display()));
        assert!(
            reason.contains(expected),
            "the reason for {} mentions `{expected}`: {reason}",
            path.display()
        );
    }
    for (path, reason) in &rejected {
        assert!(
            !reason.trim().is_empty() && !reason.contains('\n'),
            "{} is rejected with a one-line reason: {reason:?}",
            path.display()
        );
    }

    // A damaged copy that still loads provides the module of its template. Two files with one
    // module name stop a run even with --skip-broken, so those copies go before the run.
    for path in modules
        .keys()
        .filter(|path| !path.ends_with("alpha.so") && !path.ends_with("beta.so"))
    {
        fs::remove_file(path).expect("failed to remove a damaged copy that loads");
    }
    let run = run_skipping_broken(&sandbox);
    for (path, _) in &others {
        assert!(
            !run.lines_naming(path_text(path)).is_empty(),
            "the run names the rejected file {}\n{run}",
            path.display()
        );
    }

    // The hanging library is examined again on every discovery, because a timeout may come
    // from a busy machine. Without it, the warm cache has the findings for every file.
    let (hanging, _) = others
        .iter()
        .find(|(_, expected)| *expected == "hung")
        .expect("the corpus has a hanging library");
    fs::remove_file(hanging).expect("failed to remove the hanging library");
    // On a busy machine a damaged copy may also outlast the scan timeout, and is then examined
    // again like the hanging library.
    for (path, reason) in &rejected {
        if reason.starts_with("hung") && path.exists() {
            fs::remove_file(path).expect("failed to remove a copy that timed out");
        }
    }

    let strict = sandbox.run(&[]);
    assert_exited_normally(&strict);
    assert_eq!(
        strict.code(),
        Some(2),
        "without --skip-broken nothing runs\n{strict}"
    );

    let started = Instant::now();
    let warm = sandbox.list(&["--format", "json", "--skip-broken", "-v"]);
    eprintln!(
        "second discovery with the cache warm: {:?}",
        started.elapsed()
    );
    assert_exited_normally(&warm);
    let (warm_modules, warm_rejected) = parse_listing(&warm);
    assert_eq!(
        scan_counts(&warm).1,
        0,
        "the warm cache examines nothing\n{warm}"
    );
    assert_eq!(
        warm_modules.len(),
        2,
        "alpha and beta load from the cache\n{warm}"
    );
    for (path, reason) in &warm_rejected {
        assert_eq!(
            Some(reason),
            rejected.get(path),
            "the cache keeps the reason for {}",
            path.display()
        );
    }
}

#[test]
fn crashing_settings_check_is_rejected_by_scanner() {
    let sandbox = Sandbox::with_plugins(&["alpha", "beta", "crashing-settings-check"]);
    let crashing = sandbox.plugins().join("crashing-settings-check.so");

    let harmless = sandbox.plan(&[]);
    assert_eq!(
        harmless.code(),
        Some(0),
        "without `trap` the check passes\n{harmless}"
    );

    // The scan cache contains the check of the table without `trap`, which no longer applies.
    sandbox.write_config("[modules.crashing-settings-check]\ntrap = 1\n");
    let plan = sandbox.plan(&[]);
    assert_exited_normally(&plan);
    assert_eq!(
        plan.code(),
        Some(2),
        "the broken file stops the plan\n{plan}"
    );
    assert!(
        plan.lines_naming(path_text(&crashing))
            .iter()
            .any(|line| line.contains("crashed the plugin scanner with SIGABRT")),
        "the file is rejected with the signal named\n{plan}"
    );

    run_skipping_broken(&sandbox);

    // The cached crash came with the table that set `trap`, so a fixed table is checked again.
    sandbox.write_config("[modules.crashing-settings-check]\n");
    let fixed = sandbox.plan(&[]);
    assert_eq!(fixed.code(), Some(0), "the fixed table passes\n{fixed}");
}

#[test]
fn signal_stops_discovery_of_hanging_plugin() {
    let sandbox = Sandbox::with_plugins(&["alpha"]);
    sandbox.add_plugin("hanging-constructor");
    // Far longer than the test waits: only the signal can end the discovery early.
    sandbox.write_config("scan_timeout = 600\n");

    for command in ["run", "plan", "graph", "list"] {
        let running = sandbox.spawn_command(command, &[]);
        // Time for the host to start the plugin scanner on the hanging library.
        std::thread::sleep(Duration::from_millis(500));
        send_signal(&running, "INT");
        let output = running.wait();

        assert_eq!(
            output.code(),
            Some(130),
            "`{command}` exits as interrupted\n{output}"
        );
        assert!(
            output
                .stderr
                .contains("interrupted while the plugin scanner was examining"),
            "`{command}` says what was interrupted\n{output}"
        );
    }
}

#[test]
fn control_characters_in_file_names_are_escaped() {
    let sandbox = Sandbox::with_plugins(&["beta"]);
    sandbox.write_plugin_bytes("bad\nfake.so: looks fine.so", b"not a library");
    let alpha = std::fs::read(artifacts().plugin("alpha")).expect("failed to read alpha");
    sandbox.write_plugin_bytes("alpha\u{1b}[31m.so", &alpha);

    let list = sandbox.list(&["--skip-broken"]);
    assert_eq!(list.code(), Some(0), "{list}");
    assert!(
        list.all_text().contains("bad\\nfake.so: looks fine.so: "),
        "the line break in the rejected file's name is escaped\n{list}"
    );
    assert!(
        list.stdout.contains("alpha\\u{1b}[31m.so"),
        "the escape in the listed file's name is escaped\n{list}"
    );

    // A second file of module `alpha` makes the duplicate error name both files.
    sandbox.write_plugin_bytes("alpha\rcopy.so", &alpha);
    let plan = sandbox.plan(&["--skip-broken"]);
    assert_eq!(plan.code(), Some(2), "{plan}");
    assert!(
        plan.stderr.contains("alpha\\rcopy.so (version 1.0.0)"),
        "the duplicate error escapes the file name\n{plan}"
    );

    for output in [&list, &plan] {
        let text = output.all_text();
        assert!(
            !text.contains('\u{1b}') && !text.contains('\r'),
            "no control character of a file name reaches the output\n{output}"
        );
        assert!(
            !text.lines().any(|line| line.starts_with("fake.so")),
            "no line of the output comes from a file name\n{output}"
        );
    }
}

#[test]
fn unchanged_directory_is_examined_once() {
    let sandbox = Sandbox::with_plugins(&["alpha", "beta", "gamma", "crashing-constructor"]);
    let crashing = sandbox.plugins().join("crashing-constructor.so");

    let first = sandbox.list(&["-v", "--skip-broken"]);
    assert_eq!(first.code(), Some(0), "{first}");
    assert_eq!(
        scan_counts(&first),
        (0, 4),
        "the first discovery examines every file\n{first}"
    );

    let second = sandbox.list(&["-v", "--skip-broken"]);
    assert_eq!(second.code(), Some(0), "{second}");
    assert_eq!(
        scan_counts(&second),
        (4, 0),
        "the second discovery examines nothing\n{second}"
    );
    let crash_lines = second.lines_naming(path_text(&crashing));
    assert!(
        crash_lines
            .iter()
            .any(|line| line.contains("crashed the plugin scanner with SIGABRT")),
        "the remembered crash is still reported\n{second}"
    );

    // A new modification time is a change, even with the same content.
    let beta = sandbox.plugins().join("beta.so");
    let tomorrow = SystemTime::now() + Duration::from_secs(24 * 60 * 60);
    fs::File::options()
        .write(true)
        .open(&beta)
        .and_then(|file| file.set_modified(tomorrow))
        .expect("failed to change the modification time");
    let third = sandbox.list(&["-v", "--skip-broken"]);
    assert_eq!(third.code(), Some(0), "{third}");
    assert_eq!(
        scan_counts(&third),
        (3, 1),
        "only the touched file is examined\n{third}"
    );
    assert_eq!(examined_files(&third), vec![beta], "{third}");
}

#[test]
fn damaged_cache_is_ignored_and_rebuilt() {
    let sandbox = Sandbox::with_plugins(&["alpha", "beta"]);
    let first = sandbox.list(&["-v"]);
    assert_eq!(scan_counts(&first), (0, 2), "{first}");
    let cache = &cache_file(&sandbox);
    let text = fs::read_to_string(cache).expect("the cache is text");

    let damages = [
        text[..text.len() / 2].to_owned(),
        "\u{0}\u{1}garbage".to_owned(),
        text.replacen("\"sha256\":\"", "\"sha256\":\"zz", 1),
        text.replacen("\"verdict\":\"plugin\"", "\"verdict\":\"maybe\"", 1),
        // Still valid JSON with valid entries: only the checksum detects it.
        text.replacen("\"name\":\"alpha\"", "\"name\":\"omega\"", 1),
    ];
    for damaged in damages {
        assert_ne!(damaged, text, "each damage changes the cache");
        fs::write(cache, &damaged).expect("failed to damage the cache");
        let output = sandbox.list(&["-v"]);
        assert_eq!(
            output.code(),
            Some(0),
            "a damaged cache never fails a run\n{output}"
        );
        assert!(
            output.stderr.contains("ignoring the plugin scan cache"),
            "the damaged cache is reported\n{output}"
        );
        assert_eq!(
            scan_counts(&output),
            (0, 2),
            "every file is examined again\n{output}"
        );

        let rebuilt = sandbox.list(&["-v"]);
        assert_eq!(
            scan_counts(&rebuilt),
            (2, 0),
            "the cache was rebuilt\n{rebuilt}"
        );
    }
}

#[test]
fn list_shows_hash_interface_and_flags() {
    let sandbox = Sandbox::with_plugins(&["alpha", "gamma", "solo"]);
    let junk = sandbox.write_plugin_text("junk.so", "not a library\n");

    let output = sandbox.list(&["--format", "json", "--skip-broken"]);
    assert_eq!(output.code(), Some(0), "{output}");
    let listing: Value = serde_json::from_str(&output.stdout).expect("list prints JSON");
    let modules = listing["modules"].as_array().expect("modules");
    assert_eq!(modules.len(), 3, "{listing}");
    for module in modules {
        for key in [
            "name",
            "version",
            "interface_version",
            "path",
            "depends_on",
            "force_sequential",
            "enabled",
            "sha256",
        ] {
            assert!(module.get(key).is_some(), "`{key}` is listed: {module}");
        }
        assert_listed_sha256_is_content_hash(module);
    }
    let gamma = modules
        .iter()
        .find(|module| module["name"] == "gamma")
        .expect("gamma");
    assert_eq!(gamma["depends_on"], serde_json::json!(["alpha"]), "{gamma}");
    let solo = modules
        .iter()
        .find(|module| module["name"] == "solo")
        .expect("solo");
    assert_eq!(solo["force_sequential"], true, "{solo}");
    assert_eq!(
        listing["rejected"][0]["path"].as_str(),
        Some(path_text(&junk)),
        "{listing}"
    );
    assert!(listing["rejected"][0]["reason"].is_string(), "{listing}");

    let text = sandbox.list(&["--skip-broken"]);
    assert_eq!(text.code(), Some(0), "{text}");
    for column in ["INTERFACE", "SHA-256", "SEQUENTIAL", "DEPENDS ON"] {
        assert!(
            text.stdout.contains(column),
            "the table has a {column} column\n{text}"
        );
    }
    let alpha = sandbox.plugins().join("alpha.so");
    let alpha_line = text
        .lines_naming(path_text(&alpha))
        .into_iter()
        .find(|line| line.contains("alpha"))
        .unwrap_or_else(|| panic!("a row names alpha.so\n{text}"));
    assert!(alpha_line.contains(&sha256sum(&alpha)), "{alpha_line}");
}

/// Returns the SHA-256 of a file as `sha256sum` computes it.
pub(crate) fn sha256sum(path: &Path) -> String {
    let output = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum runs");
    assert!(
        output.status.success(),
        "sha256sum {} failed",
        path.display()
    );
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .next()
        .expect("sha256sum prints a hash")
        .to_owned()
}

#[test]
fn run_and_plan_hash_no_plugin_file() {
    let sandbox = Sandbox::with_plugins(&["alpha", "beta"]);

    let run = sandbox.run(&["-v"]);
    assert_eq!(run.code(), Some(0), "{run}");
    assert_eq!(scan_counts(&run), (0, 2), "a cold discovery\n{run}");
    assert_eq!(hashed_count(&run), 0, "run hashes no plugin file\n{run}");
    let entries = cache_entries(&sandbox);
    assert_eq!(entries.len(), 2, "{entries:?}");
    for (path, entry) in &entries {
        assert_eq!(
            entry["verdict"]["verdict"],
            "plugin",
            "{}: {entry}",
            path.display()
        );
        assert!(
            entry.get("sha256").is_none(),
            "the cache entry of {} written by run has no SHA-256: {entry}",
            path.display()
        );
    }

    let plan = sandbox.plan(&["-v"]);
    assert_eq!(plan.code(), Some(0), "{plan}");
    assert_eq!(scan_counts(&plan), (2, 0), "a warm discovery\n{plan}");
    assert_eq!(hashed_count(&plan), 0, "plan hashes no plugin file\n{plan}");
    for (path, entry) in cache_entries(&sandbox) {
        assert!(
            entry.get("sha256").is_none(),
            "the cache entry of {} has no SHA-256 after plan: {entry}",
            path.display()
        );
    }
}

#[test]
fn list_after_run_stores_hashes() {
    let sandbox = Sandbox::with_plugins(&["alpha", "beta"]);
    let run = sandbox.run(&[]);
    assert_eq!(run.code(), Some(0), "{run}");

    let first = sandbox.list(&["--format", "json", "-v"]);
    assert_eq!(first.code(), Some(0), "{first}");
    assert_eq!(
        scan_counts(&first),
        (2, 0),
        "list finds both files in the cache that run wrote\n{first}"
    );
    assert_eq!(
        hashed_count(&first),
        2,
        "list hashes each file the run left unhashed\n{first}"
    );
    let listing: Value = serde_json::from_str(&first.stdout).expect("list prints JSON");
    let modules = listing["modules"].as_array().expect("modules");
    assert_eq!(modules.len(), 2, "{listing}");
    for module in modules {
        assert_listed_sha256_is_content_hash(module);
    }
    for (path, entry) in cache_entries(&sandbox) {
        assert_eq!(
            entry["sha256"].as_str(),
            Some(sha256sum(&path).as_str()),
            "list stored the SHA-256 of {} in the cache",
            path.display()
        );
    }

    let second = sandbox.list(&["--format", "json", "-v"]);
    assert_eq!(second.code(), Some(0), "{second}");
    assert_eq!(
        hashed_count(&second),
        0,
        "a warm list takes the stored SHA-256\n{second}"
    );
    assert_eq!(
        second.stdout, first.stdout,
        "the second list shows what the first showed"
    );
}
