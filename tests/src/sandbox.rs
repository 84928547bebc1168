//! One test's private world: [`Sandbox`], a temporary directory containing a plugin directory, a
//! root directory and a configuration file, and the invocations of `configurator` on them.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::{Read, Seek};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use configurator_testkit::TraceRecord;
use configurator_testkit::trace::{TRACE_DIR, trace_path};
use serde_json::Value;
use tempfile::TempDir;

use crate::artifacts::artifacts;
use crate::output::Output;

/// How long one invocation may run before the test kills it and fails. Generous, because a test
/// run builds and runs many processes on a small machine. A hung host should fail a test, not
/// hang the suite.
const INVOCATION_TIMEOUT: Duration = Duration::from_secs(120);

/// A temporary directory with `plugins/`, `root/` and `configurator.toml`, removed when dropped.
pub struct Sandbox {
    directory: TempDir,
    plugins: PathBuf,
    root: PathBuf,
    config: PathBuf,
}

impl Sandbox {
    /// Creates a sandbox whose plugin directory contains the named test plugins, each copied as
    /// `<name>.so`, and whose configuration file is empty.
    pub fn with_plugins(names: &[&str]) -> Self {
        let sandbox = Self::empty();
        for name in names {
            sandbox.add_plugin(name);
        }
        sandbox
    }

    /// Creates a sandbox with every bundled module from `plugins/` as `<module>.so` and the
    /// example configuration `examples/configurator.toml`.
    pub fn with_bundled_modules() -> Self {
        let sandbox = Self::empty();
        for (module, library) in &artifacts().bundled {
            sandbox.add_plugin_file(&format!("{module}.so"), library);
        }
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/configurator.toml");
        fs::copy(&example, &sandbox.config)
            .unwrap_or_else(|err| panic!("failed to copy {}: {err}", example.display()));
        sandbox
    }

    /// Creates a sandbox with an empty plugin directory, an empty root and an empty
    /// configuration file.
    pub fn empty() -> Self {
        let directory = tempfile::Builder::new()
            .prefix("configurator-e2e-")
            .tempdir()
            .expect("failed to create a temporary directory");
        let plugins = directory.path().join("plugins");
        let root = directory.path().join("root");
        let config = directory.path().join("configurator.toml");
        fs::create_dir(&plugins).expect("failed to create the plugin directory");
        fs::set_permissions(&plugins, fs::Permissions::from_mode(0o755))
            .expect("failed to set the mode of the plugin directory");
        fs::create_dir(&root).expect("failed to create the root directory");
        fs::write(&config, "").expect("failed to create the configuration file");
        Self {
            directory,
            plugins,
            root,
            config,
        }
    }

    /// Returns the sandbox's own directory, which contains the other three.
    pub fn path(&self) -> &Path {
        self.directory.path()
    }

    /// Returns the plugin directory passed as `--plugins`.
    pub fn plugins(&self) -> &Path {
        &self.plugins
    }

    /// Returns the root directory passed as `--root`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Returns the directory passed to the host as `XDG_CACHE_HOME`, where it keeps its plugin
    /// scan cache.
    pub fn cache_home(&self) -> PathBuf {
        self.directory.path().join("cache")
    }

    /// Returns the configuration file passed as `--config`.
    pub fn config(&self) -> &Path {
        &self.config
    }

    /// Copies the test plugin built from `tests/plugins/<name>` into the plugin directory as
    /// `<name>.so` and returns the copy's path.
    pub fn add_plugin(&self, name: &str) -> PathBuf {
        self.add_plugin_file(&format!("{name}.so"), artifacts().plugin(name))
    }

    /// Copies any file into the plugin directory as `file_name` and returns the copy's path.
    ///
    /// The copy gets mode 0755 whatever the source's mode, so that the host's trust policy,
    /// which rejects files writable by group or others, accepts it under any umask.
    pub fn add_plugin_file(&self, file_name: &str, source: &Path) -> PathBuf {
        let target = self.plugins.join(file_name);
        fs::copy(source, &target).unwrap_or_else(|err| {
            panic!(
                "failed to copy {} to {}: {err}",
                source.display(),
                target.display()
            )
        });
        fs::set_permissions(&target, fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|err| panic!("failed to set the mode of {}: {err}", target.display()));
        target
    }

    /// Writes `bytes` as a file with mode 0755 into the plugin directory and returns its path.
    pub fn write_plugin_bytes(&self, file_name: &str, bytes: &[u8]) -> PathBuf {
        let target = self.plugins.join(file_name);
        fs::write(&target, bytes)
            .unwrap_or_else(|err| panic!("failed to write {}: {err}", target.display()));
        fs::set_permissions(&target, fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|err| panic!("failed to set the mode of {}: {err}", target.display()));
        target
    }

    /// Writes a text file with mode 0644 into the plugin directory and returns its path.
    pub fn write_plugin_text(&self, file_name: &str, text: &str) -> PathBuf {
        let target = self.plugins.join(file_name);
        fs::write(&target, text)
            .unwrap_or_else(|err| panic!("failed to write {}: {err}", target.display()));
        fs::set_permissions(&target, fs::Permissions::from_mode(0o644))
            .unwrap_or_else(|err| panic!("failed to set the mode of {}: {err}", target.display()));
        target
    }

    /// Replaces the configuration file's contents.
    pub fn write_config(&self, text: &str) {
        fs::write(&self.config, text)
            .unwrap_or_else(|err| panic!("failed to write {}: {err}", self.config.display()));
    }

    /// Runs `configurator run` on this sandbox with `extra` arguments appended.
    pub fn run(&self, extra: &[&str]) -> Output {
        self.spawn_run(extra).wait()
    }

    /// Starts `configurator run` on this sandbox without waiting for it.
    pub fn spawn_run(&self, extra: &[&str]) -> Running {
        self.spawn_run_on(&self.root, extra)
    }

    /// Starts `configurator run` with this sandbox's plugins and configuration on another root,
    /// such as a second sandbox's, without waiting for it.
    pub fn spawn_run_on(&self, root: &Path, extra: &[&str]) -> Running {
        let mut arguments = self.common_arguments("run");
        arguments.push("--root".into());
        arguments.push(root.into());
        arguments.extend(extra.iter().map(OsString::from));
        self.spawn(&arguments)
    }

    /// Starts `configurator COMMAND` on this sandbox's plugins and configuration with `extra`
    /// arguments appended, without waiting for it; `run` gets the sandbox's root.
    pub fn spawn_command(&self, command: &str, extra: &[&str]) -> Running {
        if command == "run" {
            return self.spawn_run(extra);
        }
        let mut arguments = self.common_arguments(command);
        arguments.extend(extra.iter().map(OsString::from));
        self.spawn(&arguments)
    }

    /// Runs `configurator plan` on this sandbox with `extra` arguments appended.
    pub fn plan(&self, extra: &[&str]) -> Output {
        let mut arguments = self.common_arguments("plan");
        arguments.extend(extra.iter().map(OsString::from));
        self.spawn(&arguments).wait()
    }

    /// Runs `configurator plan --format json`, checks that it succeeded and parses its stdout.
    pub fn plan_json(&self) -> Value {
        let output = self.plan(&["--format", "json"]);
        assert_eq!(output.code(), Some(0), "plan failed\n{output}");
        serde_json::from_str(&output.stdout)
            .unwrap_or_else(|err| panic!("plan printed invalid JSON: {err}\n{output}"))
    }

    /// Runs `configurator graph` on this sandbox with `extra` arguments appended.
    pub fn graph(&self, extra: &[&str]) -> Output {
        let mut arguments = self.common_arguments("graph");
        arguments.extend(extra.iter().map(OsString::from));
        self.spawn(&arguments).wait()
    }

    /// Runs `configurator list` on this sandbox with `extra` arguments appended.
    pub fn list(&self, extra: &[&str]) -> Output {
        let mut arguments = self.common_arguments("list");
        arguments.extend(extra.iter().map(OsString::from));
        self.spawn(&arguments).wait()
    }

    /// Runs `configurator` with exactly `arguments`, from the sandbox directory.
    pub fn invoke<S: AsRef<OsStr>>(&self, arguments: &[S]) -> Output {
        let arguments: Vec<OsString> = arguments
            .iter()
            .map(|argument| argument.as_ref().to_owned())
            .collect();
        self.spawn(&arguments).wait()
    }

    /// Returns every trace record `module` left under the root, in the order they were written.
    pub fn traces_of(&self, module: &str) -> Vec<TraceRecord> {
        let path = trace_path(&self.root, module);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
            Err(err) => panic!("failed to read {}: {err}", path.display()),
        };
        TraceRecord::parse_file(&text)
            .unwrap_or_else(|err| panic!("{}: {err}\n{text}", path.display()))
    }

    /// Returns the one trace record of `module`, failing the test unless it ran exactly once.
    pub fn trace(&self, module: &str) -> TraceRecord {
        let mut records = self.traces_of(module);
        assert_eq!(
            records.len(),
            1,
            "module `{module}` should have run exactly once, but left {} trace records: \
             {records:?}",
            records.len()
        );
        records.remove(0)
    }

    /// Returns the names of the modules that left a trace, that is, that started running.
    pub fn modules_that_ran(&self) -> Vec<String> {
        let directory = self.root.join(TRACE_DIR);
        let entries = match fs::read_dir(&directory) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
            Err(err) => panic!("failed to list {}: {err}", directory.display()),
        };
        let mut names: Vec<String> = entries
            .map(|entry| {
                let entry = entry.expect("failed to read a trace directory entry");
                entry.file_name().to_string_lossy().into_owned()
            })
            .collect();
        names.sort();
        names
    }

    fn common_arguments(&self, subcommand: &str) -> Vec<OsString> {
        vec![
            subcommand.into(),
            "--plugins".into(),
            self.plugins.clone().into(),
            "--config".into(),
            self.config.clone().into(),
        ]
    }

    fn spawn(&self, arguments: &[OsString]) -> Running {
        let host = &artifacts().host;
        let command_line = format!(
            "{} {}",
            host.display(),
            arguments
                .iter()
                .map(|argument| argument.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" ")
        );

        // Output goes to anonymous files rather than pipes, so a process that prints a lot
        // never blocks on a full pipe while the test waits for it to exit.
        let stdout = tempfile::tempfile().expect("failed to create a file for stdout");
        let stderr = tempfile::tempfile().expect("failed to create a file for stderr");
        let child = Command::new(host)
            .args(arguments)
            .current_dir(self.path())
            .env_remove("RUST_LOG")
            // The scan cache goes to the sandbox, never to the user's or the system's cache.
            .env("XDG_CACHE_HOME", self.cache_home())
            .stdin(Stdio::null())
            .stdout(stdout.try_clone().expect("failed to share the stdout file"))
            .stderr(stderr.try_clone().expect("failed to share the stderr file"))
            .spawn()
            .unwrap_or_else(|err| panic!("failed to start {command_line}: {err}"));

        Running {
            child,
            command_line,
            stdout,
            stderr,
            started: Instant::now(),
        }
    }
}

/// A `configurator` process that has been started and not yet waited for.
pub struct Running {
    child: Child,
    command_line: String,
    stdout: File,
    stderr: File,
    started: Instant,
}

impl Running {
    /// Returns the process id, for sending the process a signal.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Returns whether the process has exited, without waiting.
    pub fn has_exited(&mut self) -> bool {
        match self.child.try_wait() {
            Ok(status) => status.is_some(),
            Err(err) => panic!("failed to check on {}: {err}", self.command_line),
        }
    }

    /// Waits for the process to exit and collects its output. Kills the process and fails the
    /// test when it runs longer than the invocation timeout.
    pub fn wait(mut self) -> Output {
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) => {}
                Err(err) => panic!("failed to wait for {}: {err}", self.command_line),
            }
            if self.started.elapsed() > INVOCATION_TIMEOUT {
                // The kill may race with a normal exit, and then only the wait matters.
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "{} did not exit within {INVOCATION_TIMEOUT:?} and was killed\n\
                     --- stdout ---\n{}\n--- stderr ---\n{}",
                    self.command_line,
                    read_all(&mut self.stdout),
                    read_all(&mut self.stderr)
                );
            }
            thread::sleep(Duration::from_millis(10));
        };

        Output {
            command: self.command_line,
            status,
            stdout: read_all(&mut self.stdout),
            stderr: read_all(&mut self.stderr),
        }
    }
}

fn read_all(file: &mut File) -> String {
    let mut bytes = Vec::new();
    file.rewind().expect("failed to rewind an output file");
    file.read_to_end(&mut bytes)
        .expect("failed to read an output file");
    String::from_utf8_lossy(&bytes).into_owned()
}
