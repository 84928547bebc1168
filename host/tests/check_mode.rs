//! Check runs through the executor with modules compiled into the test: what runs, what is
//! skipped, and that nothing appears under the root, neither the modules' files nor the host's
//! lock sidecars and durations file.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::sync::Arc;

use configurator::changes::ChangeLog;
use configurator::execute::{self, RunOptions, SkipCause, Status};
use configurator::module::{InProcess, ModuleCode};
use configurator::plan;
use plugin_api::{ConfigurationModule, Context, Outcome, Result};

/// A module that writes one file through its context, with or without check mode support.
struct Writer {
    name: &'static str,
    depends_on: &'static [&'static str],
    supports_check: bool,
}

impl ConfigurationModule for Writer {
    fn name(&self) -> &str {
        self.name
    }

    fn description(&self) -> &str {
        "Writes /etc/NAME through Context::write_atomic"
    }

    fn depends_on(&self) -> &[&str] {
        self.depends_on
    }

    fn supports_check(&self) -> bool {
        self.supports_check
    }

    fn configure(&self, ctx: &Context) -> Result<Outcome> {
        let path = format!("/etc/{}", self.name);
        if ctx.write_atomic(&path, &format!("written by {}\n", self.name), 0o644)? {
            Ok(Outcome::changed(format!("wrote {path}")))
        } else {
            Ok(Outcome::unchanged(format!("{path} is current")))
        }
    }
}

fn modules(writers: Vec<Writer>) -> BTreeMap<String, Arc<dyn ModuleCode>> {
    writers
        .into_iter()
        .map(|writer| {
            let name = writer.name.to_owned();
            (
                name,
                Arc::new(InProcess::new(writer)) as Arc<dyn ModuleCode>,
            )
        })
        .collect()
}

fn check_options(root: &Path) -> RunOptions {
    let mut options = RunOptions::new(root.to_owned(), 2, root.join("run/configurator/locks"));
    options.durations_file = Some(root.join("run/configurator/durations.json"));
    options.check = true;
    options
}

fn status<'a>(report: &'a execute::RunReport, name: &str) -> &'a Status {
    &report.module(name).unwrap().status
}

#[test]
fn check_run_skips_unsupported_modules_and_writes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let modules = modules(vec![
        Writer {
            name: "supported",
            depends_on: &[],
            supports_check: true,
        },
        Writer {
            name: "unsupported",
            depends_on: &[],
            supports_check: false,
        },
        Writer {
            name: "dependent",
            depends_on: &["unsupported"],
            supports_check: true,
        },
    ]);
    let infos: Vec<_> = modules
        .values()
        .map(|module| module.info().clone())
        .collect();
    let plan = plan::plan(&infos, &BTreeSet::new()).unwrap();
    let changes = Arc::new(ChangeLog::default());
    let mut options = check_options(root.path());
    options.changes = Some(Arc::clone(&changes));

    let report = execute::execute(&plan, &modules, &BTreeMap::new(), &options).unwrap();

    assert_eq!(
        status(&report, "supported"),
        &Status::Changed("wrote /etc/supported".to_owned())
    );
    assert_eq!(status(&report, "unsupported"), &Status::NoCheckSupport);
    assert_eq!(
        status(&report, "dependent"),
        &Status::Skipped {
            dependency: "unsupported".to_owned(),
            failed: "unsupported".to_owned(),
            cause: SkipCause::NoCheckSupport,
        }
    );
    assert!(!report.all_succeeded());
    assert!(report.all_succeeded_or_check_skipped());
    assert_eq!(
        fs::read_dir(root.path()).unwrap().count(),
        0,
        "no module file, lock sidecar or durations file under the root"
    );
    let recorded: Vec<String> = changes
        .changes()
        .into_iter()
        .map(|change| change.module)
        .collect();
    assert_eq!(recorded, ["supported"]);
}

#[test]
fn real_run_runs_modules_without_check_support() {
    let root = tempfile::tempdir().unwrap();
    let modules = modules(vec![Writer {
        name: "unsupported",
        depends_on: &[],
        supports_check: false,
    }]);
    let infos: Vec<_> = modules
        .values()
        .map(|module| module.info().clone())
        .collect();
    let plan = plan::plan(&infos, &BTreeSet::new()).unwrap();
    let mut options = check_options(root.path());
    options.check = false;

    let report = execute::execute(&plan, &modules, &BTreeMap::new(), &options).unwrap();

    assert!(status(&report, "unsupported").succeeded());
    assert_eq!(
        fs::read_to_string(root.path().join("etc/unsupported")).unwrap(),
        "written by unsupported\n"
    );
    assert!(root.path().join("run/configurator/durations.json").exists());
}
