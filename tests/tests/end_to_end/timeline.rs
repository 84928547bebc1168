//! `run --timeline FILE`: the SVG is well-formed XML with one bar per module that ran, the
//! critical path marked, and an HTML page around it for `.html`.

use std::fs;

use configurator_e2e::Sandbox;

/// Returns the `data-module` names of the bars in `svg`, and those of the critical path.
fn bars(svg: &str) -> (Vec<String>, Vec<String>) {
    let document = roxmltree::Document::parse(svg)
        .unwrap_or_else(|err| panic!("the timeline is not well-formed XML: {err}\n{svg}"));
    let mut all = Vec::new();
    let mut critical = Vec::new();
    for node in document
        .descendants()
        .filter(|node| node.has_tag_name("rect"))
    {
        let classes = node.attribute("class").unwrap_or_default();
        let Some(module) = node.attribute("data-module") else {
            continue;
        };
        all.push(module.to_owned());
        if classes.split(' ').any(|class| class == "critical") {
            critical.push(module.to_owned());
        }
    }
    all.sort();
    critical.sort();
    (all, critical)
}

#[test]
fn timeline_svg_has_bar_per_module() {
    let names = ["alpha", "beta", "gamma", "epsilon", "writer-a"];
    let sandbox = Sandbox::with_plugins(&names);
    // gamma waits for alpha and epsilon for gamma, so they form the critical path.
    sandbox.write_config(
        "[modules.alpha]\nsleep_ms = 200\n\n\
         [modules.gamma]\nsleep_ms = 200\n\n\
         [modules.epsilon]\nsleep_ms = 100\n",
    );
    let path = sandbox.path().join("timeline.svg");

    let output = sandbox.run(&["--jobs", "2", "--timeline", path.to_str().expect("UTF-8")]);

    assert_eq!(output.code(), Some(0), "{output}");
    let svg = fs::read_to_string(&path).expect("the timeline file exists");
    let (all, critical) = bars(&svg);
    let mut expected: Vec<String> = names.iter().map(|name| name.to_string()).collect();
    expected.sort();
    assert_eq!(all, expected, "one bar per module");
    assert_eq!(critical, ["alpha", "epsilon", "gamma"], "critical path");
    assert!(svg.contains("worker-0"), "rows are named after threads");
    assert!(
        svg.contains(r#"class="batch""#),
        "batch boundaries are drawn"
    );
}

#[test]
fn timeline_html_wraps_svg() {
    let sandbox = Sandbox::with_plugins(&["alpha", "beta"]);
    let path = sandbox.path().join("timeline.html");

    let output = sandbox.run(&["--timeline", path.to_str().expect("UTF-8")]);

    assert_eq!(output.code(), Some(0), "{output}");
    let html = fs::read_to_string(&path).expect("the timeline file exists");
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    let start = html.find("<svg").expect("the page holds the SVG");
    let end = html.find("</svg>").expect("the SVG is closed") + "</svg>".len();
    let (all, _) = bars(&html[start..end]);
    assert_eq!(all, ["alpha", "beta"]);
}
