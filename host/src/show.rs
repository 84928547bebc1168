//! `configurator config show`: the effective configuration as TOML, with the defaults that
//! apply filled in.
//!
//! The output parses as a configuration file that means the same as the original. A comment
//! header names the file, every value that came from a default, and the settings that stay
//! unset because unset has a meaning of its own (no module timeout, no scan cache). Modules
//! without a `[modules.NAME]` table are not listed: they run with `enabled = true`, no timeout
//! and an empty table, and the plugin directory is not loaded to find them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use configurator::config::Config;
use configurator::scan::ScanOptions;
use toml::{Table, Value};

/// The values of `config show` that the command line and this machine decide, not the file.
pub struct Defaults<'a> {
    /// `--plugins`, which takes precedence over `plugin_dir`.
    pub plugins: Option<&'a Path>,
    /// The worker threads of a run without `jobs`: the available parallelism.
    pub jobs: usize,
    /// The lock directory of a run without `lock_dir`.
    pub lock_dir: &'a Path,
    /// How long a lock request waits in a run without `lock_timeout` or `--lock-timeout`.
    pub lock_timeout: Duration,
}

/// Renders the effective configuration as TOML text with a comment header.
pub fn effective_config(config: &Config, defaults: &Defaults<'_>) -> anyhow::Result<String> {
    let mut document = Table::new();
    let mut from_defaults: Vec<String> = Vec::new();
    let mut unset: Vec<String> = Vec::new();

    let plugin_dir = config.plugin_dir(defaults.plugins);
    document.insert("plugin_dir".into(), path_value(&plugin_dir)?);
    match (defaults.plugins, &config.plugin_dir) {
        (Some(_), _) => from_defaults.push("plugin_dir (from --plugins)".into()),
        (None, None) => from_defaults.push("plugin_dir".into()),
        (None, Some(_)) => {}
    }

    let jobs = config.jobs.map_or(defaults.jobs, usize::from);
    document.insert("jobs".into(), integer(jobs as u64));
    if config.jobs.is_none() {
        from_defaults.push("jobs (this machine's available parallelism)".into());
    }

    let lock_dir = config.lock_dir.as_deref().unwrap_or(defaults.lock_dir);
    document.insert("lock_dir".into(), path_value(lock_dir)?);
    if config.lock_dir.is_none() {
        from_defaults.push("lock_dir".into());
    }

    let lock_timeout = config.lock_timeout.unwrap_or(defaults.lock_timeout);
    document.insert("lock_timeout".into(), seconds(lock_timeout));
    if config.lock_timeout.is_none() {
        from_defaults.push("lock_timeout (unless `run --lock-timeout` sets one)".into());
    }

    // The scanner program plays no part in the values shown.
    let scan = ScanOptions::from_config(config, &plugin_dir, false, PathBuf::new());
    match &scan.cache_file {
        Some(file) => {
            document.insert("scan_cache".into(), path_value(file)?);
            if config.scan_cache.is_none() {
                from_defaults.push("scan_cache".into());
            }
        }
        None => unset.push("scan_cache, and there is no default place, so no scan cache".into()),
    }
    document.insert("scan_timeout".into(), seconds(scan.scan_timeout));
    if config.scan_timeout.is_none() {
        from_defaults.push("scan_timeout".into());
    }

    let mut trust = Table::new();
    trust.insert("strict".into(), Value::Boolean(config.trust.strict));
    if !config.trust.sha256.is_empty() {
        let pins = config
            .trust
            .sha256
            .iter()
            .map(|(module, pin)| (module.clone(), Value::String(pin.clone())))
            .collect();
        trust.insert("sha256".into(), Value::Table(pins));
    }
    document.insert("trust".into(), Value::Table(trust));

    let mut modules = Table::new();
    let mut without_timeout = Vec::new();
    for (name, module) in &config.modules {
        let mut table = module.settings.clone();
        table.insert("enabled".into(), Value::Boolean(module.enabled));
        match module.timeout {
            Some(timeout) => {
                table.insert("timeout".into(), seconds(timeout));
            }
            None => without_timeout.push(format!("[modules.{name}]")),
        }
        if let Some(version) = &module.version {
            table.insert("version".into(), Value::String(version.to_string()));
        }
        modules.insert(name.clone(), Value::Table(table));
    }
    if !without_timeout.is_empty() {
        unset.push(format!(
            "timeout in {}, so those modules run without a limit unless `run --timeout` sets one",
            without_timeout.join(", ")
        ));
    }
    if !modules.is_empty() {
        document.insert("modules".into(), Value::Table(modules));
    }

    let body = toml::to_string(&document).context("cannot encode the configuration as TOML")?;
    Ok(format!(
        "{}\n{body}",
        header(config, &from_defaults, &unset)
    ))
}

/// Returns the comment lines above the values.
fn header(config: &Config, from_defaults: &[String], unset: &[String]) -> String {
    let mut lines = vec![match &config.path {
        Some(path) => format!(
            "# The effective configuration: {} with the defaults that apply.",
            path.display()
        ),
        None => "# The effective configuration: no configuration file, so every value is a \
                 default."
            .to_owned(),
    }];
    if !from_defaults.is_empty() {
        lines.push(format!("# Defaults: {}.", from_defaults.join(", ")));
    }
    for item in unset {
        lines.push(format!("# Not set: {item}."));
    }
    lines.push(
        "# A module without a [modules.NAME] table runs with enabled = true, no timeout and no \
         settings."
            .to_owned(),
    );
    lines.join("\n") + "\n"
}

fn path_value(path: &Path) -> anyhow::Result<Value> {
    match path.to_str() {
        Some(text) => Ok(Value::String(text.to_owned())),
        None => bail!(
            "cannot show path {} in TOML: it is not valid UTF-8",
            path.display()
        ),
    }
}

fn integer(value: u64) -> Value {
    Value::Integer(i64::try_from(value).unwrap_or(i64::MAX))
}

/// Returns whole seconds as an integer and anything else as a float, as the file accepts them.
fn seconds(duration: Duration) -> Value {
    if duration.subsec_nanos() == 0 {
        integer(duration.as_secs())
    } else {
        Value::Float(duration.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK_DIR: &str = "/run/configurator/locks";
    const LOCK_TIMEOUT: Duration = Duration::from_secs(600);

    fn show(text: &str, plugins: Option<&Path>) -> String {
        let config = Config::parse(text, Path::new("/etc/configurator/configurator.toml")).unwrap();
        let defaults = Defaults {
            plugins,
            jobs: 3,
            lock_dir: Path::new(LOCK_DIR),
            lock_timeout: LOCK_TIMEOUT,
        };
        effective_config(&config, &defaults).unwrap()
    }

    fn parse(shown: &str) -> Table {
        toml::from_str(shown).unwrap_or_else(|err| panic!("invalid TOML: {err}\n{shown}"))
    }

    #[test]
    fn empty_file_shows_defaults() {
        let shown = show("", None);
        let document = parse(&shown);

        assert_eq!(
            document["plugin_dir"].as_str(),
            Some(configurator::config::DEFAULT_PLUGIN_DIR)
        );
        assert_eq!(document["jobs"].as_integer(), Some(3));
        assert_eq!(document["lock_dir"].as_str(), Some(LOCK_DIR));
        assert_eq!(document["trust"]["strict"].as_bool(), Some(true));
        assert!(shown.contains("# Defaults: plugin_dir, jobs"), "{shown}");
    }

    #[test]
    fn unset_lock_timeout_shows_default() {
        let shown = show("", None);
        let document = parse(&shown);

        assert_eq!(document["lock_timeout"].as_integer(), Some(600), "{shown}");
        assert!(
            shown.contains("lock_timeout (unless `run --lock-timeout` sets one)"),
            "{shown}"
        );
        assert!(!shown.contains("without a limit"), "{shown}");
        assert!(!shown.contains("Not set: lock_timeout"), "{shown}");
    }

    #[test]
    fn file_values_win_over_defaults() {
        let shown = show(
            "plugin_dir = \"/opt/modules\"\njobs = 8\nlock_dir = \"/run/x\"\nlock_timeout = 2.5\n",
            None,
        );
        let document = parse(&shown);

        assert_eq!(document["plugin_dir"].as_str(), Some("/opt/modules"));
        assert_eq!(document["jobs"].as_integer(), Some(8));
        assert_eq!(document["lock_dir"].as_str(), Some("/run/x"));
        assert_eq!(document["lock_timeout"].as_float(), Some(2.5));
        assert!(!shown.contains("lock_timeout ("), "{shown}");
        assert!(!shown.contains("plugin_dir,"), "{shown}");
    }

    #[test]
    fn plugins_option_wins_over_file() {
        let shown = show(
            "plugin_dir = \"/opt/modules\"\n",
            Some(Path::new("/cli/modules")),
        );

        assert_eq!(parse(&shown)["plugin_dir"].as_str(), Some("/cli/modules"));
        assert!(shown.contains("plugin_dir (from --plugins)"), "{shown}");
    }

    #[test]
    fn module_tables_get_host_keys() {
        let shown = show(
            "[modules.hosts]\nentries = [\"10.0.0.5 build\"]\n\n\
             [modules.motd]\nenabled = false\ntimeout = 30\n",
            None,
        );
        let document = parse(&shown);
        let hosts = &document["modules"]["hosts"];
        let motd = &document["modules"]["motd"];

        assert_eq!(hosts["enabled"].as_bool(), Some(true));
        assert_eq!(hosts["entries"][0].as_str(), Some("10.0.0.5 build"));
        assert!(hosts.get("timeout").is_none(), "{shown}");
        assert_eq!(motd["enabled"].as_bool(), Some(false));
        assert_eq!(motd["timeout"].as_integer(), Some(30));
        assert!(
            shown.contains("# Not set: timeout in [modules.hosts], so"),
            "{shown}"
        );
    }

    #[test]
    fn output_reads_back_as_same_configuration() {
        let original = "jobs = 2\nlock_timeout = 4\n\n[modules.sysctl.parameters]\n\
                        \"vm.swappiness\" = 10\n\n[modules.groups]\n\
                        [[modules.groups.group]]\nname = \"deploy\"\n";
        let shown = show(original, None);

        let reread = Config::parse(&shown, Path::new("shown.toml")).unwrap();

        assert_eq!(reread.jobs.map(usize::from), Some(2));
        assert_eq!(reread.lock_timeout, Some(Duration::from_secs(4)));
        assert_eq!(
            reread.settings_text("groups"),
            Config::parse(original, Path::new("original.toml"))
                .unwrap()
                .settings_text("groups")
        );
        assert!(reread.is_enabled("sysctl"));
    }
}
