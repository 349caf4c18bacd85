//! Executing a program under an `--approve` directory (issue 11, point 6): the kernel cannot
//! let a confined process exec what its Landlock domain does not grant, and no runtime grant
//! can add to that domain (see docs/THREAT_MODEL.md, "Reported socket refusals and approved
//! exec"). So the exec is refused — and reported with `--read DIR`, which, added to the same
//! command (the approval kept), makes it run. Both forms: a program the command execs, and the
//! command itself (exit 126 with advice).

use crate::harness::{nono, sandbox_available, Run, Scratch};

/// The `nono: denied` line that mentions `needle`.
#[track_caller]
fn denied_line<'a>(run: &'a Run, needle: &str) -> &'a str {
    run.stderr
        .lines()
        .find(|l| l.starts_with("nono: denied") && l.contains(needle))
        .unwrap_or_else(|| panic!("no denial line for {needle}\n{run}"))
}

/// The flags after `→ add ` up to ` (or` or the end of the line.
fn suggested(line: &str) -> Vec<String> {
    let rest = line
        .split_once("→ add ")
        .map(|(_, r)| r)
        .unwrap_or_else(|| panic!("no flag suggested: {line}"));
    let flags = rest.split(" (").next().unwrap_or(rest);
    flags.split_whitespace().map(str::to_owned).collect()
}

fn tool(s: &Scratch) -> (String, String) {
    let bin = s.write("appr/bin/tool", "#!/bin/sh\necho tool ran\n");
    std::fs::set_permissions(&bin, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    std::fs::copy("/usr/bin/true", s.join("appr/bin/etrue")).expect("copy true");
    (s.s("appr"), bin.display().to_string())
}

#[test]
fn exec_under_an_approved_directory_is_reported_with_a_read_flag_that_works() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("approve-exec");
    let (appr, _) = tool(&s);
    let etrue = s.s("appr/bin/etrue");
    let script = format!("{etrue}; echo rc=$?; cat {etrue} > /dev/null && echo read-ok");
    let first = nono(
        &s.path,
        ["run", "--approve", &appr, "--", "sh", "-c", &script],
    );
    // The approval covers the read, not the exec.
    first.stdout_has("read-ok");
    assert!(!first.stdout.contains("rc=0"), "exec ran\n{first}");
    let line = denied_line(&first, "appr/bin/etrue");
    assert!(line.contains("(execve)"), "{line}");
    let flags = suggested(line);
    assert_eq!(flags[0], "--read", "{line}");
    // Following it, approval kept: the program runs and nothing is denied.
    let mut args: Vec<String> = ["run", "--approve", &appr]
        .iter()
        .map(|x| (*x).to_owned())
        .collect();
    args.extend(flags);
    args.extend(["--".into(), "sh".into(), "-c".into(), script]);
    let second = nono(&s.path, &args);
    second.expect_code(0).stdout_has("rc=0");
    assert!(!second.stderr.contains("nono: denied"), "{second}");
}

#[test]
fn an_approved_command_itself_gets_advice_that_works() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("approve-exec-cmd");
    let (appr, bin) = tool(&s);
    let first = nono(&s.path, ["run", "--approve", &appr, "--", &bin]);
    first.expect_code(126);
    let advice = first
        .stderr
        .lines()
        .find(|l| l.contains("lies outside the sandbox's grants"))
        .unwrap_or_else(|| panic!("no advice\n{first}"));
    let flags = suggested(&advice.replacen(": add ", "→ add ", 1));
    let mut args: Vec<String> = ["run", "--approve", &appr]
        .iter()
        .map(|x| (*x).to_owned())
        .collect();
    args.extend(flags);
    args.extend(["--".into(), bin]);
    nono(&s.path, &args).expect_code(0).stdout_has("tool ran");
}
