//! The parts of `configurator plan` beyond the batch lines: each module's batch and reason, the
//! longest dependency chain, what `--only` and `--skip` changed, and the JSON document.

use std::fmt::Write as _;

use serde::Serialize;

use super::{RejectedFile, rejected_files, table};
use crate::explain::{Explanation, LatestDependency};
use crate::loader::Rejection;
use crate::module::ModuleInfo;
use crate::plan::{Batch, Plan};
use crate::selection::{LeftOut, Selected};

/// The JSON document of `plan --format json`.
#[derive(Debug, Serialize)]
pub struct PlanDocument<'a> {
    /// Batches in execution order.
    pub batches: &'a [Batch],
    /// Every planned module, sorted by name.
    pub modules: Vec<PlannedModule<'a>>,
    /// The number of modules in the longest dependency chain; 0 for an empty plan.
    pub longest_chain: usize,
    /// The modules of that chain, each waiting for the one before it.
    pub longest_chain_modules: &'a [String],
    /// The names given to `--only`.
    pub only: &'a [String],
    /// The names given to `--skip`.
    pub skip: &'a [String],
    /// Planned modules that `--only` does not name but that a module named there needs.
    pub added_as_dependencies: &'a [String],
    /// Enabled modules that `--only` or `--skip` leave out.
    pub left_out: Vec<LeftOutEntry<'a>>,
    /// The plugin files that `--skip-broken` left out of the plan.
    pub rejected: Vec<RejectedFile<'a>>,
}

/// One module of [`PlanDocument::modules`]: its metadata, batch and the reason for it.
#[derive(Debug, Serialize)]
pub struct PlannedModule<'a> {
    /// The module's metadata.
    #[serde(flatten)]
    pub info: &'a ModuleInfo,
    /// Its batch, counting from 1 as the text plan does.
    pub batch: usize,
    /// The reason for that batch, as the text plan prints it.
    pub reason: String,
    /// The awaited module in the highest batch, if any.
    pub latest_dependency: Option<&'a LatestDependency>,
}

/// One module of [`PlanDocument::left_out`], with its reason as text and as data.
#[derive(Debug, Serialize)]
pub struct LeftOutEntry<'a> {
    /// The module and the structured reason.
    #[serde(flatten)]
    pub left_out: &'a LeftOut,
    /// The reason as the text plan prints it.
    pub reason: String,
}

impl<'a> PlanDocument<'a> {
    /// Builds the document for `plan`, made from `modules` after `selected` was applied, with
    /// the plugin files rejected before planning.
    pub fn new(
        plan: &'a Plan,
        modules: &'a [ModuleInfo],
        explanation: &'a Explanation,
        selected: &'a Selected,
        rejected: &'a [Rejection],
    ) -> Self {
        let mut planned: Vec<PlannedModule<'a>> = explanation
            .placements
            .iter()
            .filter_map(|placement| {
                let info = modules
                    .iter()
                    .find(|module| module.name == placement.module)?;
                Some(PlannedModule {
                    info,
                    batch: placement.batch,
                    reason: placement.reason(),
                    latest_dependency: placement.latest_dependency.as_ref(),
                })
            })
            .collect();
        planned.sort_by(|left, right| left.info.name.cmp(&right.info.name));

        Self {
            batches: &plan.batches,
            modules: planned,
            longest_chain: explanation.longest_chain.len(),
            longest_chain_modules: &explanation.longest_chain,
            only: &selected.only,
            skip: &selected.skip,
            added_as_dependencies: &selected.added_as_dependencies,
            left_out: selected
                .left_out
                .iter()
                .map(|left_out| LeftOutEntry {
                    left_out,
                    reason: left_out.reason.to_string(),
                })
                .collect(),
            rejected: rejected_files(rejected),
        }
    }
}

/// Renders each module's batch and the reason for it, then the longest dependency chain.
/// Returns an empty string for an empty plan.
pub fn placement_text(explanation: &Explanation) -> String {
    if explanation.placements.is_empty() {
        return String::new();
    }

    let rows: Vec<[String; 3]> = explanation
        .placements
        .iter()
        .map(|placement| {
            [
                placement.module.clone(),
                placement.batch.to_string(),
                placement.reason(),
            ]
        })
        .collect();
    let header = ["MODULE", "BATCH", "REASON"].map(str::to_owned);
    let mut text = format!("\n{}", table(&header, &rows));

    let chain = &explanation.longest_chain;
    let unit = if chain.len() == 1 {
        "module"
    } else {
        "modules"
    };
    let _ = writeln!(
        text,
        "\nlongest dependency chain: {} {unit} ({})",
        chain.len(),
        chain.join(" -> ")
    );
    text
}

/// Renders what `--only` and `--skip` changed. Returns an empty string when neither was given.
pub fn selection_text(selected: &Selected) -> String {
    let mut text = String::new();
    if selected.only.is_empty() && selected.skip.is_empty() {
        return text;
    }

    text.push('\n');
    if !selected.only.is_empty() {
        let _ = write!(text, "--only: {}", selected.only.join(", "));
        if !selected.added_as_dependencies.is_empty() {
            let _ = write!(
                text,
                " (added as dependencies: {})",
                selected.added_as_dependencies.join(", ")
            );
        }
        text.push('\n');
    }
    if !selected.skip.is_empty() {
        let _ = writeln!(text, "--skip: {}", selected.skip.join(", "));
    }
    if !selected.left_out.is_empty() {
        text.push_str("left out:\n");
        for left_out in &selected.left_out {
            let _ = writeln!(text, "  {}: {}", left_out.name, left_out.reason);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::explain::explain;
    use crate::plan::plan;
    use crate::selection::{Selection, select};

    fn module(name: &str, depends_on: &[&str], sequential: bool) -> ModuleInfo {
        ModuleInfo {
            name: name.to_owned(),
            version: "1.0.0".to_owned(),
            depends_on: depends_on.iter().map(|name| name.to_string()).collect(),
            force_sequential: sequential,
            ..ModuleInfo::default()
        }
    }

    #[test]
    fn placement_text_shows_reasons_and_chain() {
        let modules = [
            module("alpha", &[], false),
            module("solo", &[], true),
            module("gamma", &["alpha"], false),
        ];
        let plan = plan(&modules, &BTreeSet::new()).unwrap();

        let text = placement_text(&explain(&plan, &modules));

        let expected = "
  MODULE  BATCH  REASON
  alpha   1      no dependencies
  solo    2      no dependencies
  gamma   3      depends on alpha, in batch 1

longest dependency chain: 2 modules (alpha -> gamma)
";
        assert_eq!(text, expected);
    }

    #[test]
    fn selection_text_lists_added_and_left_out() {
        let modules = [
            module("alpha", &[], false),
            module("beta", &[], false),
            module("gamma", &["alpha"], false),
            module("delta", &["beta"], false),
        ];
        let selection = Selection {
            only: vec!["gamma".into()],
            skip: vec!["beta".into()],
        };
        let selected = select(&modules, &BTreeSet::new(), &selection).unwrap();

        let text = selection_text(&selected);

        let expected = "
--only: gamma (added as dependencies: alpha)
--skip: beta
left out:
  beta: not named in --only and not needed by a module there
  delta: not named in --only and not needed by a module there
";
        assert_eq!(text, expected);
    }

    #[test]
    fn selection_text_is_empty_without_options() {
        assert_eq!(selection_text(&Selected::default()), "");
    }

    #[test]
    fn json_document_keeps_existing_keys_and_adds_new_ones() {
        let modules = [
            module("alpha", &[], false),
            module("gamma", &["alpha"], false),
        ];
        let plan = plan(&modules, &BTreeSet::new()).unwrap();
        let explanation = explain(&plan, &modules);
        let selected = Selected::default();

        let document = PlanDocument::new(&plan, &modules, &explanation, &selected, &[]);
        let json = serde_json::to_value(&document).unwrap();

        assert_eq!(json["batches"][1]["modules"][0], "gamma");
        assert_eq!(json["batches"][1]["sequential"], false);
        let gamma = &json["modules"][1];
        for key in [
            "name",
            "version",
            "description",
            "depends_on",
            "force_sequential",
            "path",
        ] {
            assert!(gamma.get(key).is_some(), "`{key}` is missing from {gamma}");
        }
        assert_eq!(gamma["batch"], 2);
        assert_eq!(gamma["reason"], "depends on alpha, in batch 1");
        assert_eq!(gamma["latest_dependency"]["name"], "alpha");
        assert_eq!(gamma["after"], serde_json::json!([]));
        assert_eq!(json["longest_chain"], 2);
        assert_eq!(
            json["longest_chain_modules"],
            serde_json::json!(["alpha", "gamma"])
        );
        assert_eq!(json["left_out"], serde_json::json!([]));
        assert_eq!(json["rejected"], serde_json::json!([]));
    }
}
