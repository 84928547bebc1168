//! The module graph in Graphviz DOT, as `configurator graph` prints it.
//!
//! Each batch is one `{rank=same; ...}` subgraph, and invisible edges between consecutive
//! batches keep the ranks in execution order even where no dependency links them. Edges point
//! from a module to the modules that wait for it: solid for `depends_on`, labelled with the
//! version requirement when there is one, and dashed for `after`. A `force_sequential` module
//! is an octagon whose label ends with `sequential`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::module::ModuleInfo;
use crate::plan::{self, EdgeKind, Plan};

/// Renders `plan`, made from `modules`, as a DOT digraph.
pub fn render(plan: &Plan, modules: &[ModuleInfo]) -> String {
    let by_name: BTreeMap<&str, &ModuleInfo> = modules
        .iter()
        .map(|module| (module.name.as_str(), module))
        .collect();

    let mut text = String::from("digraph modules {\n");
    text.push_str("  node [shape=box];\n");

    for (index, batch) in plan.batches.iter().enumerate() {
        let kind = if batch.sequential {
            "sequential"
        } else {
            "parallel"
        };
        let _ = writeln!(text, "  // batch {} ({kind})", index + 1);
        text.push_str("  {rank=same;");
        for name in &batch.modules {
            let _ = write!(
                text,
                " {};",
                node(name, by_name.get(name.as_str()).copied())
            );
        }
        text.push_str("}\n");
    }

    // Invisible edges from each batch's first module to the next batch's first module.
    let firsts: Vec<&String> = plan
        .batches
        .iter()
        .filter_map(|batch| batch.modules.first())
        .collect();
    for pair in firsts.windows(2) {
        let _ = writeln!(
            text,
            "  {} -> {} [style=invis];",
            quote(pair[0]),
            quote(pair[1])
        );
    }

    for edge in plan::edges(modules) {
        let mut attributes = Vec::new();
        if edge.kind == EdgeKind::After {
            attributes.push("style=dashed".to_owned());
        }
        if let Some(requirement) = &edge.requirement {
            attributes.push(format!("label={}", quote(requirement)));
        }
        let _ = write!(
            text,
            "  {} -> {}",
            quote(&edge.dependency),
            quote(&edge.module)
        );
        if !attributes.is_empty() {
            let _ = write!(text, " [{}]", attributes.join(", "));
        }
        text.push_str(";\n");
    }

    text.push_str("}\n");
    text
}

/// Returns the node statement of one module: its name and version, and the sequential marker.
fn node(name: &str, info: Option<&ModuleInfo>) -> String {
    let version = info.map_or("", |info| info.version.as_str());
    let sequential = info.is_some_and(|info| info.force_sequential);
    let mut label = format!("{}\\n{}", escape(name), escape(version));
    if sequential {
        label.push_str("\\nsequential");
        format!("{} [label=\"{label}\", shape=octagon]", quote(name))
    } else {
        format!("{} [label=\"{label}\"]", quote(name))
    }
}

/// Returns `text` as a DOT quoted string.
fn quote(text: &str) -> String {
    format!("\"{}\"", escape(text))
}

/// Escapes backslashes and double quotes for use inside a DOT quoted string.
fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::requirement::split_depends_on;

    fn module(name: &str, depends_on: &[&str], after: &[&str], sequential: bool) -> ModuleInfo {
        let (depends_on, requirements) = split_depends_on(depends_on.iter().copied());
        ModuleInfo {
            name: name.to_owned(),
            version: "1.0.0".to_owned(),
            depends_on,
            requirements,
            after: after.iter().map(|name| name.to_string()).collect(),
            force_sequential: sequential,
            ..ModuleInfo::default()
        }
    }

    #[test]
    fn graph_shows_ranks_edges_and_markers() {
        let modules = [
            module("alpha", &[], &[], false),
            module("beta", &[], &[], false),
            module("solo", &[], &[], true),
            module("gamma", &["alpha >=1.0, <2"], &["beta"], false),
        ];
        let plan = plan::plan(&modules, &BTreeSet::new()).unwrap();

        let dot = render(&plan, &modules);

        let expected = r#"digraph modules {
  node [shape=box];
  // batch 1 (parallel)
  {rank=same; "alpha" [label="alpha\n1.0.0"]; "beta" [label="beta\n1.0.0"];}
  // batch 2 (sequential)
  {rank=same; "solo" [label="solo\n1.0.0\nsequential", shape=octagon];}
  // batch 3 (parallel)
  {rank=same; "gamma" [label="gamma\n1.0.0"];}
  "alpha" -> "solo" [style=invis];
  "solo" -> "gamma" [style=invis];
  "alpha" -> "gamma" [label=">=1.0, <2"];
  "beta" -> "gamma" [style=dashed];
}
"#;
        assert_eq!(dot, expected);
    }

    #[test]
    fn quotes_and_backslashes_are_escaped() {
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
    }

    #[test]
    fn empty_plan_is_an_empty_digraph() {
        let dot = render(&Plan { batches: vec![] }, &[]);

        assert_eq!(dot, "digraph modules {\n  node [shape=box];\n}\n");
    }
}
