//! Shell completions (`configurator completions SHELL`) and man pages (`configurator man
//! [COMMAND]`), generated at run time from the clap definition in `cli`, so that they always
//! describe the binary that prints them.

use std::io::Write;

use anyhow::{Context as _, bail};
use clap::CommandFactory as _;
use clap_complete::Shell;

use crate::cli::Cli;

/// The binary's name as completions and man pages spell it.
const BIN_NAME: &str = "configurator";

/// Sections of the main page that clap does not generate, in roff. `.SH` starts a section and
/// `.TP` a tagged paragraph whose first line is the tag.
const MAIN_PAGE_SECTIONS: &str = r#".SH "EXIT STATUS"
.TP
\fB0\fR
Every module succeeded.
.TP
\fB1\fR
A module failed, timed out, was skipped or was not started.
.TP
\fB2\fR
Invalid invocation, configuration or module set; nothing ran.
.TP
\fB130\fR
SIGINT, SIGTERM or SIGHUP interrupted the run, which still printed its recap.
.SH FILES
.TP
\fI/etc/configurator/configurator.toml\fR
The configuration read when \fB\-\-config\fR is not given and the file exists.
.TP
\fI/usr/lib/configurator/modules\fR
The plugin directory when neither \fB\-\-plugins\fR nor \fBplugin_dir\fR is given. Install a
plugin by writing a temporary file in it and renaming it to \fINAME\fR.so: overwriting a file
that a running host has mapped crashes that host.
.TP
\fI/run/configurator/locks\fR
The lock directory under the run's root when \fBlock_dir\fR is not set.
"#;

/// Returns the completion script for `shell`.
pub fn completions(shell: Shell) -> Vec<u8> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut visible_command(), BIN_NAME, &mut script);
    script
}

/// Returns the command line definition without hidden subcommands, which clap_complete 4.6
/// would otherwise offer in bash, zsh and fish completions.
fn visible_command() -> clap::Command {
    let full = Cli::command();
    let mut visible = clap::Command::new(BIN_NAME)
        .version(env!("CARGO_PKG_VERSION"))
        .propagate_version(true)
        .subcommand_required(true)
        .args(full.get_arguments().cloned())
        .subcommands(
            full.get_subcommands()
                .filter(|subcommand| !subcommand.is_hide_set())
                .cloned(),
        );
    if let Some(about) = full.get_about() {
        visible = visible.about(about.clone());
    }
    visible
}

/// Returns the man page of `configurator` or, with a command path such as `["config", "show"]`,
/// of that command (page `configurator-config-show`), in roff.
///
/// A path given as one quoted word, `["config show"]`, is split at whitespace and means the
/// same.
pub fn man_page(command: &[String]) -> anyhow::Result<Vec<u8>> {
    let command: Vec<String> = command
        .iter()
        .flat_map(|words| words.split_whitespace())
        .map(str::to_owned)
        .collect();
    let mut page = Vec::new();
    write_man_page(&command, &mut page)?;
    Ok(page)
}

fn write_man_page(command: &[String], out: &mut dyn Write) -> anyhow::Result<()> {
    let mut root = Cli::command().disable_help_subcommand(true);
    // Building propagates the global options and the version into the subcommands, and gives
    // each subcommand its display name, `configurator-run`, which becomes the page's title.
    root.build();
    if command.is_empty() {
        return render_main_page(root, out).context("cannot write the man page");
    }

    let mut page_command = &root;
    for (depth, name) in command.iter().enumerate() {
        let Some(subcommand) =
            visible_subcommands(page_command).find(|subcommand| subcommand.get_name() == name)
        else {
            let parent = [BIN_NAME]
                .into_iter()
                .chain(command[..depth].iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(" ");
            let names: Vec<&str> = visible_subcommands(page_command)
                .map(clap::Command::get_name)
                .collect();
            if names.is_empty() {
                bail!(
                    "no man page for `{}`: `{parent}` has no commands",
                    command.join(" ")
                );
            }
            bail!(
                "no man page for `{}`: the commands of `{parent}` are {}",
                command.join(" "),
                names.join(", ")
            );
        };
        page_command = subcommand;
    }
    let page = clap_mangen::Man::new(page_command.clone()).source(source());
    page.render(out)
        .with_context(|| format!("cannot write the man page of `{}`", command.join(" ")))
}

fn visible_subcommands(command: &clap::Command) -> impl Iterator<Item = &clap::Command> {
    command
        .get_subcommands()
        .filter(|subcommand| !subcommand.is_hide_set())
}

/// The `.TH` source field: the program and its version, the same on every page.
fn source() -> String {
    format!("{BIN_NAME} {}", env!("CARGO_PKG_VERSION"))
}

fn render_main_page(root: clap::Command, out: &mut dyn Write) -> std::io::Result<()> {
    let page = clap_mangen::Man::new(root).source(source());
    page.render_title(out)?;
    page.render_name_section(out)?;
    page.render_synopsis_section(out)?;
    page.render_description_section(out)?;
    page.render_options_section(out)?;
    page.render_subcommands_section(out)?;
    out.write_all(MAIN_PAGE_SECTIONS.as_bytes())?;
    page.render_version_section(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn completion_text(shell: Shell) -> String {
        String::from_utf8(completions(shell)).unwrap()
    }

    fn page_text(command: &[&str]) -> String {
        let command: Vec<String> = command.iter().map(|name| (*name).to_owned()).collect();
        String::from_utf8(man_page(&command).unwrap()).unwrap()
    }

    #[test]
    fn bash_completion_names_commands_and_options() {
        let script = completion_text(Shell::Bash);

        assert!(script.contains("run"), "{script}");
        assert!(script.contains("--plugins"), "{script}");
        assert!(script.contains("--schedule"), "{script}");
        assert!(
            !script.contains("__scan"),
            "the hidden scanner command is left out"
        );
    }

    #[test]
    fn every_shell_gets_a_script() {
        for shell in [
            Shell::Bash,
            Shell::Zsh,
            Shell::Fish,
            Shell::Elvish,
            Shell::PowerShell,
        ] {
            let script = completion_text(shell);

            assert!(script.contains("configurator"), "{shell}");
            assert!(script.contains("completions"), "{shell}: {script}");
            assert!(!script.contains("__scan"), "{shell}: {script}");
        }
    }

    #[test]
    fn main_page_has_title_commands_and_exit_status() {
        let page = page_text(&[]);

        assert!(page.contains("\n.TH configurator 1 "), "{page}");
        assert!(page.contains(".SH SUBCOMMANDS"), "{page}");
        assert!(page.contains("configurator\\-run(1)"), "{page}");
        assert!(page.contains(".SH \"EXIT STATUS\""), "{page}");
        assert!(!page.contains("__scan"), "{page}");
    }

    #[test]
    fn command_page_lists_its_options() {
        let page = page_text(&["run"]);

        assert!(page.contains("\n.TH configurator-run 1 "), "{page}");
        assert!(page.contains("\\-\\-lock\\-timeout"), "{page}");
    }

    #[test]
    fn nested_command_has_page() {
        let page = page_text(&["config", "show"]);

        assert!(page.contains("\n.TH configurator-config-show 1 "), "{page}");
        assert!(page.contains("\\-\\-plugins"), "{page}");
    }

    #[test]
    fn quoted_nested_command_has_page() {
        let quoted = page_text(&["config show"]);

        assert_eq!(quoted, page_text(&["config", "show"]));
        assert!(
            quoted.contains("\n.TH configurator-config-show 1 "),
            "{quoted}"
        );
    }

    #[test]
    fn unknown_command_page_names_the_commands() {
        let error = man_page(&["runn".to_owned()]).unwrap_err();

        assert!(error.to_string().contains("run, plan"), "{error}");
        assert!(
            error
                .to_string()
                .contains("the commands of `configurator` are "),
            "{error}"
        );
    }

    #[test]
    fn unknown_nested_command_names_its_parent() {
        let error = man_page(&["config".to_owned(), "shw".to_owned()]).unwrap_err();

        assert!(
            error.to_string().contains(
                "no man page for `config shw`: the commands of `configurator config` are show"
            ),
            "{error}"
        );
    }
}
