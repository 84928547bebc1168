//! Host file locks: many modules, in one process and in two, appending to one shared file with
//! no line lost, duplicated or torn.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use configurator_e2e::Sandbox;

use crate::{assert_overlap, traces};

/// The shared file as the modules name it; the host resolves it under the run's root.
const SHARED_FILE: &str = "/var/lib/e2e/shared.log";

/// Where the host keeps its lock files under the root when `lock_dir` is not set.
const DEFAULT_LOCK_DIR: &str = "run/configurator/locks";

fn shared_file_under(root: &std::path::Path) -> PathBuf {
    root.join(SHARED_FILE.trim_start_matches('/'))
}

/// Builds `[modules.NAME]` tables making each module append `lines` lines to the shared file
/// with the given lock API (`context` or `utils`), holding each lock for `hold_us`.
fn append_config(modules: &[(&str, &str)], lines: u32, hold_us: u64) -> String {
    modules
        .iter()
        .map(|(module, lock_api)| {
            format!(
                "[modules.{module}]\n\
                 append_file = \"{SHARED_FILE}\"\n\
                 append_lines = {lines}\n\
                 append_with = \"{lock_api}\"\n\
                 lock_hold_us = {hold_us}\n\n"
            )
        })
        .collect()
}

/// Shows at most ten items of a list and how many there are, for failure messages.
fn sample<T: std::fmt::Debug>(items: &[T]) -> String {
    format!(
        "{} in all, first ones: {:?}",
        items.len(),
        &items[..items.len().min(10)]
    )
}

/// Asserts that `text` is exactly the lines `"<module> <i>"` for `i` in `0..lines` of every
/// module: each once, whole, and each module's lines in its own order.
fn assert_every_line_once(text: &str, modules: &[&str], lines: u32) {
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "the shared file ends in the middle of a line: {:?}",
        &text[text.len().saturating_sub(80)..]
    );

    let mut malformed = Vec::new();
    let mut seen: BTreeMap<(&str, u32), usize> = BTreeMap::new();
    let mut out_of_order = Vec::new();
    let mut last_index: BTreeMap<&str, u32> = BTreeMap::new();
    for (number, line) in text.lines().enumerate() {
        let parsed = line
            .split_once(' ')
            .and_then(|(module, index)| Some((module, index.parse::<u32>().ok()?)))
            .filter(|(module, index)| modules.contains(module) && *index < lines);
        let Some((module, index)) = parsed else {
            malformed.push(format!("line {}: {line:?}", number + 1));
            continue;
        };
        *seen.entry((module, index)).or_default() += 1;
        if let Some(previous) = last_index.insert(module, index)
            && previous >= index
        {
            out_of_order.push(format!(
                "line {}: {line:?} after {module} {previous}",
                number + 1
            ));
        }
    }

    let duplicated: Vec<_> = seen.iter().filter(|(_, count)| **count > 1).collect();
    let missing: Vec<_> = modules
        .iter()
        .flat_map(|module| (0..lines).map(move |index| (*module, index)))
        .filter(|key| !seen.contains_key(key))
        .collect();
    assert!(
        malformed.is_empty(),
        "torn or unexpected lines in the shared file: {}",
        sample(&malformed)
    );
    assert!(
        duplicated.is_empty(),
        "lines written more than once: {}",
        sample(&duplicated)
    );
    assert!(
        missing.is_empty(),
        "lines lost from the shared file: {}",
        sample(&missing)
    );
    assert!(
        out_of_order.is_empty(),
        "a module's lines out of the order it wrote them: {}",
        sample(&out_of_order)
    );
}

#[test]
fn file_lock_keeps_every_appended_line() {
    // Five modules share the first batch; the rest follow in later batches. Both lock APIs
    // guard the same file.
    let modules = [
        ("alpha", "context"),
        ("beta", "utils"),
        ("writer-a", "context"),
        ("writer-b", "utils"),
        ("writer-c", "context"),
        ("solo", "utils"),
        ("gamma", "context"),
        ("delta", "utils"),
        ("epsilon", "context"),
    ];
    let names: Vec<&str> = modules.iter().map(|(name, _)| *name).collect();
    let sandbox = Sandbox::with_plugins(&names);
    let lines = 200;
    sandbox.write_config(&append_config(&modules, lines, 200));

    let output = sandbox.run(&["--jobs", "5"]);

    assert_eq!(output.code(), Some(0), "every module succeeds\n{output}");
    let traces = traces(&sandbox, &names);
    assert_overlap(
        &traces,
        "alpha",
        "writer-c",
        "appends contend for the lock only when modules run together",
    );
    let shared_file = shared_file_under(sandbox.root());
    let text = fs::read_to_string(&shared_file)
        .unwrap_or_else(|err| panic!("failed to read {}: {err}", shared_file.display()));
    assert_every_line_once(&text, &names, lines);
    let lock_dir = sandbox.root().join(DEFAULT_LOCK_DIR);
    assert!(
        lock_dir.is_dir(),
        "file locks live in {} by default",
        lock_dir.display()
    );
}

#[test]
fn concurrent_runs_share_file_locks() {
    let first_modules = [
        ("alpha", "context"),
        ("beta", "utils"),
        ("gamma", "context"),
        ("delta", "utils"),
        ("epsilon", "context"),
    ];
    let second_modules = [
        ("writer-a", "utils"),
        ("writer-b", "context"),
        ("writer-c", "utils"),
        ("solo", "context"),
    ];
    let first_names: Vec<&str> = first_modules.iter().map(|(name, _)| *name).collect();
    let second_names: Vec<&str> = second_modules.iter().map(|(name, _)| *name).collect();
    let first = Sandbox::with_plugins(&first_names);
    let second = Sandbox::with_plugins(&second_names);
    let lines = 300;
    first.write_config(&append_config(&first_modules, lines, 500));
    second.write_config(&append_config(&second_modules, lines, 500));
    let shared_file = shared_file_under(first.root());

    // Start the second process once the first is appending, so that both append at once.
    let mut first_run = first.spawn_run(&["--jobs", "4"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !shared_file.exists() && !first_run.has_exited() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    let second_run = second.spawn_run_on(first.root(), &["--jobs", "4"]);
    let first_output = first_run.wait();
    let second_output = second_run.wait();

    assert_eq!(
        first_output.code(),
        Some(0),
        "the first run succeeds\n{first_output}"
    );
    assert_eq!(
        second_output.code(),
        Some(0),
        "the second run on the same root succeeds\n{second_output}"
    );
    let text = fs::read_to_string(&shared_file)
        .unwrap_or_else(|err| panic!("failed to read {}: {err}", shared_file.display()));
    let all_names: Vec<&str> = first_names.iter().chain(&second_names).copied().collect();
    assert_every_line_once(&text, &all_names, lines);

    let is_second = |line: &str| {
        line.split_once(' ')
            .is_some_and(|(module, _)| second_names.contains(&module))
    };
    let first_positions: Vec<usize> = (text.lines().enumerate())
        .filter(|(_, line)| !is_second(line))
        .map(|(position, _)| position)
        .collect();
    let (Some(first_start), Some(first_end)) = (first_positions.first(), first_positions.last())
    else {
        panic!("the first run appended nothing");
    };
    let interleaved = text.lines().enumerate().any(|(position, line)| {
        is_second(line) && *first_start < position && position < *first_end
    });
    assert!(
        interleaved,
        "no line of the second run lies between lines of the first, so the two processes never \
         appended at the same time and the cross-process lock went untested"
    );
}
