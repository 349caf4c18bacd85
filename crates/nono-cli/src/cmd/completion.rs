//! `nono completion SHELL` and `nono man`: generated from the same clap definitions.

use std::io::Write;

use clap::CommandFactory;

use crate::flags::Cli;

/// Write the completion script for `shell` to stdout.
pub fn completion(shell: clap_complete::Shell) -> anyhow::Result<i32> {
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "nono", &mut buf);
    crate::ui::stdout(&buf);
    Ok(0)
}

/// Write the man page (roff) for `nono` to stdout, or every page into `--dir`.
pub fn man(args: crate::flags::ManArgs) -> anyhow::Result<i32> {
    let Some(dir) = args.dir else {
        crate::ui::stdout(&man_page()?);
        return Ok(0);
    };
    std::fs::create_dir_all(&dir).map_err(|e| {
        crate::exit::Failure::nono(format!("--dir {}: cannot create it: {e}", dir.display()))
    })?;
    let mut cmd = without_help(Cli::command());
    cmd.build();
    // clap_mangen writes nono.1 and, recursively, nono-SUB.1 for every visible subcommand:
    // the pages the top-level SUBCOMMANDS section refers to.
    clap_mangen::generate_to(cmd, &dir).map_err(|e| {
        crate::exit::Failure::nono(format!(
            "--dir {}: writing the pages failed: {e}",
            dir.display()
        ))
    })?;
    Ok(0)
}

/// `cmd` without the generated `help` subcommands (no `nono-help-run.1` pages).
fn without_help(cmd: clap::Command) -> clap::Command {
    cmd.disable_help_subcommand(true)
        .mut_subcommands(without_help)
}

/// The man page for `nono`: the top-level page from clap_mangen, then one section per
/// (visible) subcommand with its synopsis and options.
pub fn man_page() -> anyhow::Result<Vec<u8>> {
    let mut cmd = Cli::command();
    cmd.build();
    let mut top = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut top)?;
    // The top-level page lists the subcommands as `nono-run(1)`; in this one page they are
    // sections below (the separate pages come from `nono man --dir`).
    let mut buf = String::from_utf8_lossy(&top)
        .replace("(1)\n", " (section below)\n")
        .into_bytes();
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        render_subcommand(&mut buf, &[], sub)?;
    }
    Ok(buf)
}

fn render_subcommand(
    buf: &mut Vec<u8>,
    parents: &[&str],
    sub: &clap::Command,
) -> anyhow::Result<()> {
    let mut path: Vec<&str> = vec!["nono"];
    path.extend_from_slice(parents);
    path.push(sub.get_name());
    let full = path.join(" ");
    writeln!(buf, ".SH \"{}\"", roff_escape(&full.to_uppercase()))?;
    if let Some(about) = sub.get_long_about().or(sub.get_about()) {
        writeln!(buf, "{}", roff_escape(&about.to_string()))?;
    }
    let usage = sub
        .clone()
        .bin_name(full.clone())
        .render_usage()
        .to_string();
    writeln!(
        buf,
        ".PP\n\\fB{}\\fR",
        roff_escape(usage.trim_start_matches("Usage: "))
    )?;
    for arg in sub.get_arguments().filter(|a| !a.is_hide_set()) {
        let mut names = Vec::new();
        if let Some(s) = arg.get_short() {
            names.push(format!("-{s}"));
        }
        if let Some(l) = arg.get_long() {
            names.push(format!("--{l}"));
        }
        for alias in arg.get_visible_aliases().unwrap_or_default() {
            names.push(format!("--{alias}"));
        }
        let value = arg
            .get_value_names()
            .map(|v| {
                v.iter()
                    .map(|s| format!("<{s}>"))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        let head = if names.is_empty() {
            value.clone()
        } else if arg.get_action().takes_values() && !value.is_empty() {
            format!("{} {value}", names.join(", "))
        } else {
            names.join(", ")
        };
        writeln!(buf, ".TP\n\\fB{}\\fR", roff_escape(&head))?;
        if let Some(help) = arg.get_long_help().or(arg.get_help()) {
            writeln!(buf, "{}", roff_escape(&help.to_string()))?;
        }
    }
    let mut parents = parents.to_vec();
    parents.push(sub.get_name());
    for s in sub
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        render_subcommand(buf, &parents, s)?;
    }
    Ok(())
}

/// Escape text for roff: backslashes, hyphens, and a leading `.` or `'` on any line.
fn roff_escape(text: &str) -> String {
    text.lines()
        .map(|line| {
            let l = line.replace('\\', "\\e").replace('-', "\\-");
            if l.starts_with('.') || l.starts_with('\'') {
                format!("\\&{l}")
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn man_page_covers_every_visible_subcommand() {
        let page = String::from_utf8(man_page().unwrap()).unwrap();
        for name in [
            "RUN",
            "WRAP",
            "SHELL",
            "WHY",
            "LEARN",
            "SETUP",
            "PROFILE",
            "COMPLETION",
        ] {
            assert!(
                page.contains(&format!(".SH \"NONO {name}\"")),
                "{name} missing"
            );
        }
        assert!(page.contains("\\-\\-bypass\\-protection"));
        assert!(page.contains(".SH \"NONO MAN\""));
        assert!(
            !page.contains("nono\\-run(1)"),
            "refers to a page it is not"
        );
    }

    #[test]
    fn roff_escape_guards_control_lines() {
        assert_eq!(roff_escape(".x\n-y\\"), "\\&.x\n\\-y\\e");
    }
}
