//! Planning features beyond plain dependencies: version requirements in `depends_on`, the
//! ordering-only `after`, `--only` and `--skip`, the per-module reasons and longest chain of
//! `plan`, and the DOT output of `graph`.

use std::io::Write as _;
use std::process::{Command, Stdio};

use configurator_e2e::{Output, Sandbox, Status, contains_word};
use serde_json::Value;

use crate::{assert_finished_before, traces};

/// Modules on three dependency levels plus one sequential module: alpha, beta and solo on level
/// 0, gamma (alpha) and delta (alpha, beta) on level 1, epsilon (gamma) on level 2.
const LAYERED: [&str; 6] = ["alpha", "beta", "gamma", "delta", "epsilon", "solo"];

/// Runs `plan --format json` with `extra` arguments, checks that it succeeded and parses it.
fn plan_json(sandbox: &Sandbox, extra: &[&str]) -> Value {
    let mut arguments = vec!["--format", "json"];
    arguments.extend_from_slice(extra);
    let output = sandbox.plan(&arguments);
    assert_eq!(output.code(), Some(0), "plan succeeds\n{output}");
    serde_json::from_str(&output.stdout)
        .unwrap_or_else(|err| panic!("plan printed invalid JSON: {err}\n{output}"))
}

/// Returns the names in a JSON array of strings.
fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("expected an array of strings: {value}"))
        .iter()
        .map(|item| {
            item.as_str()
                .unwrap_or_else(|| panic!("expected a string: {item}"))
        })
        .collect()
}

/// Returns the names of the modules in a plan's `modules` array.
fn planned_names(plan: &Value) -> Vec<&str> {
    let modules = plan["modules"]
        .as_array()
        .unwrap_or_else(|| panic!("plan JSON has no `modules` array: {plan:#}"));
    modules
        .iter()
        .map(|module| module["name"].as_str().expect("module names are strings"))
        .collect()
}

/// Returns the plan's entry for `name` in `modules`.
fn planned_module<'a>(plan: &'a Value, name: &str) -> &'a Value {
    plan["modules"]
        .as_array()
        .and_then(|modules| modules.iter().find(|module| module["name"] == name))
        .unwrap_or_else(|| panic!("no entry for `{name}` in the plan's modules: {plan:#}"))
}

/// Asserts the outcome of a rejected module set or selection: status 2 and no module started.
fn assert_rejected_before_running(output: &Output, sandbox: &Sandbox) {
    assert_eq!(output.code(), Some(2), "rejected with status 2\n{output}");
    assert_eq!(
        sandbox.modules_that_ran(),
        Vec::<String>::new(),
        "nothing runs when the module set is rejected\n{output}"
    );
}

#[test]
fn met_version_requirement_runs() {
    let sandbox = Sandbox::with_plugins(&["alpha", "needs-alpha-1"]);
    sandbox.write_config("[modules.alpha]\nsleep_ms = 100\n");

    let output = sandbox.run(&[]);

    assert_eq!(
        output.code(),
        Some(0),
        "alpha 1.0.0 meets `>=1.0, <2`\n{output}"
    );
    assert_eq!(
        output.recap_status("needs-alpha-1"),
        Some(Status::Changed),
        "{output}"
    );
    let traces = traces(&sandbox, &["alpha", "needs-alpha-1"]);
    assert_finished_before(&traces, "alpha", "needs-alpha-1", "a dependency runs first");
}

#[test]
fn plan_json_lists_requirements_beside_bare_names() {
    let sandbox = Sandbox::with_plugins(&["alpha", "needs-alpha-1"]);

    let plan = plan_json(&sandbox, &[]);

    let module = planned_module(&plan, "needs-alpha-1");
    assert_eq!(
        strings(&module["depends_on"]),
        ["alpha"],
        "depends_on keeps bare names: {module}"
    );
    assert_eq!(module["requirements"][0]["dependency"], "alpha", "{module}");
    assert_eq!(
        module["requirements"][0]["requirement"], ">=1.0, <2",
        "{module}"
    );
}

#[test]
fn unmet_version_requirement_is_rejected() {
    let sandbox = Sandbox::with_plugins(&["alpha", "beta", "needs-beta-9"]);

    let output = sandbox.run(&[]);

    assert_rejected_before_running(&output, &sandbox);
    let lines: Vec<&str> = output
        .stderr
        .lines()
        .filter(|line| contains_word(line, "needs-beta-9"))
        .collect();
    assert_eq!(lines.len(), 1, "one line names the module\n{output}");
    assert!(
        lines[0].contains("beta >=9"),
        "the line names the requirement\n{output}"
    );
    assert!(
        lines[0].contains("1.1.0"),
        "the line names the version found\n{output}"
    );

    let plan = sandbox.plan(&[]);
    assert_eq!(plan.code(), Some(2), "plan rejects it as well\n{plan}");
}

#[test]
fn every_structural_problem_is_reported_at_once() {
    let sandbox = Sandbox::with_plugins(&[
        "alpha",
        "beta",
        "needs-beta-9",
        "bad-requirement",
        "orphan",
        "cycle-a",
        "cycle-b",
    ]);

    let output = sandbox.plan(&[]);

    assert_eq!(output.code(), Some(2), "{output}");
    for (module, detail) in [
        ("needs-beta-9", "beta >=9"),
        ("bad-requirement", ">=one"),
        ("orphan", "ghost"),
        ("cycle-a", "cycle-b"),
    ] {
        assert!(
            output
                .stderr
                .lines()
                .any(|line| contains_word(line, module) && line.contains(detail)),
            "one line names `{module}` and `{detail}`\n{output}"
        );
    }
}

#[test]
fn present_after_target_runs_first() {
    let sandbox = Sandbox::with_plugins(&["alpha", "after-alpha"]);
    sandbox.write_config("[modules.alpha]\nsleep_ms = 200\n");

    let output = sandbox.run(&["--jobs", "2"]);

    assert_eq!(output.code(), Some(0), "both succeed\n{output}");
    let traces = traces(&sandbox, &["alpha", "after-alpha"]);
    assert_finished_before(
        &traces,
        "alpha",
        "after-alpha",
        "after-alpha runs after alpha when alpha is in the run",
    );

    let plan = plan_json(&sandbox, &[]);
    let module = planned_module(&plan, "after-alpha");
    assert_eq!(strings(&module["after"]), ["alpha"], "{module}");
    assert_eq!(module["batch"], 2, "{module}");
    assert_eq!(module["reason"], "runs after alpha, in batch 1", "{module}");
}

#[test]
fn absent_after_target_is_no_error() {
    let sandbox = Sandbox::with_plugins(&["after-alpha"]);

    let output = sandbox.run(&[]);

    assert_eq!(
        output.code(),
        Some(0),
        "a missing `after` target is ignored\n{output}"
    );
    assert_eq!(output.recap_status("after-alpha"), Some(Status::Changed));
}

#[test]
fn disabled_after_target_is_no_error() {
    let sandbox = Sandbox::with_plugins(&["alpha", "after-alpha"]);
    sandbox.write_config("[modules.alpha]\nenabled = false\n");

    let output = sandbox.run(&[]);

    assert_eq!(
        output.code(),
        Some(0),
        "a disabled `after` target is ignored\n{output}"
    );
    assert_eq!(sandbox.modules_that_ran(), ["after-alpha"]);
}

#[test]
fn failed_after_target_skips_nothing() {
    let sandbox = Sandbox::with_plugins(&["alpha", "after-alpha"]);
    sandbox.write_config("[modules.alpha]\nfail = \"alpha fails on purpose\"\n");

    let output = sandbox.run(&[]);

    assert_eq!(output.code(), Some(1), "alpha fails the run\n{output}");
    assert_eq!(output.recap_status("alpha"), Some(Status::Failed));
    assert_eq!(
        output.recap_status("after-alpha"),
        Some(Status::Changed),
        "`after` is ordering only, so alpha's failure skips nothing\n{output}"
    );
    let traces = traces(&sandbox, &["alpha", "after-alpha"]);
    assert_finished_before(&traces, "alpha", "after-alpha", "the ordering still holds");
}

#[test]
fn plan_only_adds_dependencies() {
    let sandbox = Sandbox::with_plugins(&LAYERED);

    let plan = plan_json(&sandbox, &["--only", "epsilon"]);

    assert_eq!(planned_names(&plan), ["alpha", "epsilon", "gamma"]);
    assert_eq!(strings(&plan["only"]), ["epsilon"]);
    assert_eq!(strings(&plan["added_as_dependencies"]), ["alpha", "gamma"]);
    let left_out: Vec<&str> = plan["left_out"]
        .as_array()
        .expect("plan JSON has a `left_out` array")
        .iter()
        .map(|entry| entry["name"].as_str().expect("left-out names are strings"))
        .collect();
    assert_eq!(left_out, ["beta", "delta", "solo"], "{plan:#}");
    assert_eq!(plan["left_out"][0]["kind"], "not_selected", "{plan:#}");
}

#[test]
fn plan_text_lists_skipped_dependents() {
    let sandbox = Sandbox::with_plugins(&LAYERED);

    let output = sandbox.plan(&["--skip", "gamma"]);

    assert_eq!(output.code(), Some(0), "{output}");
    assert!(
        output.stdout.contains("  gamma: named in --skip"),
        "the plan says why gamma is left out\n{output}"
    );
    assert!(
        output
            .stdout
            .contains("  epsilon: depends on gamma, named in --skip"),
        "the plan says why epsilon is left out\n{output}"
    );
    let batches: Vec<&str> = output
        .stdout
        .lines()
        .filter(|line| line.starts_with("batch "))
        .collect();
    assert!(
        batches
            .iter()
            .all(|line| !contains_word(line, "gamma") && !contains_word(line, "epsilon")),
        "no batch contains a left-out module\n{output}"
    );
}

#[test]
fn run_only_runs_selection_and_dependencies() {
    let sandbox = Sandbox::with_plugins(&LAYERED);

    let output = sandbox.run(&["--only", "gamma"]);

    assert_eq!(output.code(), Some(0), "{output}");
    assert_eq!(sandbox.modules_that_ran(), ["alpha", "gamma"]);
    assert_eq!(
        output.recap_status("beta"),
        None,
        "left-out modules are not in the recap\n{output}"
    );
}

#[test]
fn run_skip_leaves_out_dependents() {
    let sandbox = Sandbox::with_plugins(&LAYERED);

    let output = sandbox.run(&["--skip", "alpha,solo"]);

    assert_eq!(output.code(), Some(0), "{output}");
    assert_eq!(sandbox.modules_that_ran(), ["beta"]);
}

#[test]
fn skip_lets_the_rest_of_a_broken_set_run() {
    let sandbox = Sandbox::with_plugins(&["alpha", "orphan"]);
    assert_eq!(
        sandbox.run(&[]).code(),
        Some(2),
        "orphan's missing dependency rejects the whole set"
    );

    let output = sandbox.run(&["--skip", "orphan"]);

    assert_eq!(output.code(), Some(0), "{output}");
    assert_eq!(sandbox.modules_that_ran(), ["alpha"]);
}

#[test]
fn unknown_selected_name_suggests_closest_module() {
    let sandbox = Sandbox::with_plugins(&["alpha", "beta"]);

    for subcommand in ["run", "plan", "graph"] {
        for option in ["--only", "--skip"] {
            let output = match subcommand {
                "run" => sandbox.run(&[option, "alpah"]),
                "plan" => sandbox.plan(&[option, "alpah"]),
                _ => sandbox.graph(&[option, "alpah"]),
            };

            assert_rejected_before_running(&output, &sandbox);
            assert!(
                output.stderr.contains(&format!("{option} names `alpah`")),
                "{subcommand}: the error names the option and the unknown name\n{output}"
            );
            assert!(
                output.stderr.contains("did you mean `alpha`?"),
                "{subcommand}: the error suggests the closest module\n{output}"
            );
        }
    }
}

#[test]
fn only_conflicting_with_skip_is_rejected() {
    let sandbox = Sandbox::with_plugins(&LAYERED);

    let output = sandbox.run(&["--only", "epsilon", "--skip", "alpha"]);

    assert_rejected_before_running(&output, &sandbox);
    assert!(
        output
            .stderr
            .contains("--only names `epsilon`, but --skip leaves it out"),
        "{output}"
    );
}

#[test]
fn plan_explains_each_batch_and_longest_chain() {
    let sandbox = Sandbox::with_plugins(&LAYERED);

    let output = sandbox.plan(&[]);

    assert_eq!(output.code(), Some(0), "{output}");
    for (module, batch, reason) in [
        ("alpha", "1", "no dependencies"),
        ("solo", "2", "no dependencies"),
        ("delta", "3", "depends on alpha, in batch 1"),
        ("gamma", "3", "depends on alpha, in batch 1"),
        ("epsilon", "4", "depends on gamma, in batch 3"),
    ] {
        let row = output
            .stdout
            .lines()
            .find(|line| line.split_whitespace().next() == Some(module))
            .unwrap_or_else(|| panic!("no row for `{module}`\n{output}"));
        let mut words = row.split_whitespace().skip(1);
        assert_eq!(words.next(), Some(batch), "`{module}`'s batch: {row}");
        assert!(row.ends_with(reason), "`{module}`'s reason: {row}");
    }
    assert!(
        output
            .stdout
            .contains("longest dependency chain: 3 modules (alpha -> gamma -> epsilon)"),
        "{output}"
    );

    let plan = plan_json(&sandbox, &[]);
    assert_eq!(plan["longest_chain"], 3, "{plan:#}");
    assert_eq!(
        strings(&plan["longest_chain_modules"]),
        ["alpha", "gamma", "epsilon"]
    );
    let epsilon = planned_module(&plan, "epsilon");
    assert_eq!(epsilon["batch"], 4, "{epsilon}");
    assert_eq!(
        epsilon["reason"], "depends on gamma, in batch 3",
        "{epsilon}"
    );
    assert_eq!(epsilon["latest_dependency"]["name"], "gamma", "{epsilon}");
    assert_eq!(epsilon["latest_dependency"]["batch"], 3, "{epsilon}");
}

/// The parts of DOT output the tests check, read line by line from the layout `graph` prints.
#[derive(Debug, Default)]
struct Dot {
    /// The node names of each `{rank=same; ...}` subgraph, in order.
    ranks: Vec<Vec<String>>,
    /// Each node's attribute list, such as `[label="solo\n0.6.0\nsequential", shape=octagon]`.
    node_attributes: Vec<(String, String)>,
    /// Each edge as (from, to, attribute list or empty).
    edges: Vec<(String, String, String)>,
}

impl Dot {
    fn parse(text: &str) -> Self {
        let trimmed = text.trim();
        assert!(
            trimmed.starts_with("digraph ") && trimmed.ends_with('}'),
            "not a digraph:\n{text}"
        );
        assert_eq!(
            count_outside_quotes(text, '{'),
            count_outside_quotes(text, '}'),
            "unbalanced braces:\n{text}"
        );

        let mut dot = Dot::default();
        for line in text.lines().map(str::trim) {
            if let Some(body) = line
                .strip_prefix("{rank=same;")
                .and_then(|rest| rest.strip_suffix('}'))
            {
                let mut rank = Vec::new();
                for statement in split_outside_quotes(body, ';') {
                    let statement = statement.trim();
                    if statement.is_empty() {
                        continue;
                    }
                    let (name, attributes) = leading_quoted(statement);
                    rank.push(name.clone());
                    dot.node_attributes
                        .push((name, attributes.trim().to_owned()));
                }
                dot.ranks.push(rank);
            } else if line.starts_with('"') && line.contains(" -> ") {
                let statement = line.strip_suffix(';').unwrap_or(line);
                let (from, rest) = leading_quoted(statement);
                let rest = rest
                    .trim_start()
                    .strip_prefix("->")
                    .unwrap_or_else(|| panic!("malformed edge: {line}"));
                let (to, attributes) = leading_quoted(rest.trim_start());
                dot.edges.push((from, to, attributes.trim().to_owned()));
            }
        }
        dot
    }

    fn attributes_of(&self, node: &str) -> &str {
        self.node_attributes
            .iter()
            .find(|(name, _)| name == node)
            .map(|(_, attributes)| attributes.as_str())
            .unwrap_or_else(|| panic!("no node `{node}` in {self:?}"))
    }

    fn edge(&self, from: &str, to: &str) -> Option<&str> {
        self.edges
            .iter()
            .find(|(edge_from, edge_to, _)| edge_from == from && edge_to == to)
            .map(|(_, _, attributes)| attributes.as_str())
    }
}

/// Splits `text` at the leading quoted string: returns its unescaped content and the rest.
fn leading_quoted(text: &str) -> (String, &str) {
    let mut chars = text.char_indices();
    assert_eq!(
        chars.next().map(|(_, c)| c),
        Some('"'),
        "expected a quoted ID: {text}"
    );
    let mut content = String::new();
    let mut escaped = false;
    for (index, c) in chars {
        match (escaped, c) {
            (true, _) => {
                content.push(c);
                escaped = false;
            }
            (false, '\\') => escaped = true,
            (false, '"') => return (content, &text[index + 1..]),
            (false, _) => content.push(c),
        }
    }
    panic!("unterminated quoted ID: {text}")
}

/// Splits `text` at each `separator` that is outside a quoted string.
fn split_outside_quotes(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (index, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            _ if c == separator && !quoted => {
                parts.push(&text[start..index]);
                start = index + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn count_outside_quotes(text: &str, wanted: char) -> usize {
    split_outside_quotes(text, wanted).len() - 1
}

/// Checks `text` with Graphviz's `dot` when it is installed; the tests do not require it.
fn check_with_graphviz(text: &str) {
    let child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        return;
    };
    child
        .stdin
        .take()
        .expect("dot's stdin is piped")
        .write_all(text.as_bytes())
        .expect("failed to write to dot");
    let output = child.wait_with_output().expect("failed to wait for dot");
    assert!(
        output.status.success(),
        "dot rejected the graph: {}\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn graph_prints_ranks_requirements_and_markers() {
    let sandbox = Sandbox::with_plugins(&[
        "alpha",
        "beta",
        "solo",
        "gamma",
        "needs-alpha-1",
        "after-alpha",
    ]);

    let output = sandbox.graph(&[]);

    assert_eq!(output.code(), Some(0), "{output}");
    let dot = Dot::parse(&output.stdout);
    assert_eq!(
        dot.ranks,
        [
            vec!["alpha".to_owned(), "beta".to_owned()],
            vec!["solo".to_owned()],
            vec![
                "after-alpha".to_owned(),
                "gamma".to_owned(),
                "needs-alpha-1".to_owned()
            ],
        ],
        "one rank per batch, in order\n{output}"
    );
    let solo = dot.attributes_of("solo");
    assert!(
        solo.contains("sequential") && solo.contains("shape=octagon"),
        "the sequential module is marked: {solo}"
    );
    assert!(
        !dot.attributes_of("alpha").contains("sequential"),
        "only sequential modules are marked\n{output}"
    );
    assert_eq!(
        dot.edge("alpha", "needs-alpha-1"),
        Some(r#"[label=">=1.0, <2"]"#),
        "the requirement labels the edge\n{output}"
    );
    assert_eq!(
        dot.edge("alpha", "gamma"),
        Some(""),
        "a plain dependency is a plain edge\n{output}"
    );
    assert_eq!(
        dot.edge("alpha", "after-alpha"),
        Some("[style=dashed]"),
        "an `after` edge is dashed\n{output}"
    );
    check_with_graphviz(&output.stdout);
}

#[test]
fn graph_follows_only_and_skip() {
    let sandbox = Sandbox::with_plugins(&LAYERED);

    let output = sandbox.graph(&["--only", "epsilon", "--skip", "solo"]);

    assert_eq!(output.code(), Some(0), "{output}");
    let dot = Dot::parse(&output.stdout);
    let nodes: Vec<&str> = dot.ranks.iter().flatten().map(String::as_str).collect();
    assert_eq!(nodes, ["alpha", "gamma", "epsilon"], "{output}");
    check_with_graphviz(&output.stdout);
}
