//! The denial report for calls other than opens: creating, removing, renaming and linking
//! directory entries and executing binaries outside the grants are refused by the kernel
//! and named in the report with the flag that would allow them; inside the grants, nothing.

use std::os::unix::fs::PermissionsExt;

use crate::harness::{nono, sandbox_available, Scratch};

/// A copy of `true` at `p`, executable.
fn tool(s: &Scratch, p: &str) -> String {
    let path = s.join(p);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::copy("/bin/true", &path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

#[test]
fn entry_operations_and_exec_outside_the_grants_are_reported() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("report-ops");
    s.write("ro/gone.txt", "a");
    s.write("ro/moved.txt", "b");
    s.write("ro/linked.txt", "c");
    s.mkdir("w");
    let tool = tool(&s, "bin/tool");
    let (ro, w) = (s.s("ro"), s.s("w"));
    // Each step must be refused by the kernel (the marker), then named in the report.
    let script = format!(
        "mkdir {ro}/newdir || echo mkdir-refused; \
         rm {ro}/gone.txt || echo unlink-refused; \
         mv {ro}/moved.txt {w}/moved.txt || echo rename-refused; \
         ln {ro}/linked.txt {w}/linked.txt || echo link-refused; \
         {tool} || echo exec-refused; \
         mkdir {w}/fine && touch {w}/fine/f && rm -r {w}/fine"
    );
    let out = nono(
        &s.path,
        [
            "run", "--read", &ro, "--allow", &w, "--", "sh", "-c", &script,
        ],
    );
    out.expect_code(0);
    for marker in [
        "mkdir-refused",
        "unlink-refused",
        "rename-refused",
        "link-refused",
        "exec-refused",
    ] {
        out.stdout_has(marker);
    }
    out.stderr_has(&format!(
        "nono: denied write of {ro}/newdir (mkdir) → add --write {ro}\n"
    ));
    out.stderr_has(&format!(
        "nono: denied write of {ro}/gone.txt (unlinkat) → add --write {ro}\n"
    ));
    // mv falls back to copy + unlink when the rename is refused: one line, both calls.
    out.stderr_has(&format!("nono: denied write of {ro}/moved.txt (rename"));
    out.stderr_has(&format!(
        "nono: denied write of {ro}/linked.txt (linkat) → add --write {ro}\n"
    ));
    out.stderr_has(&format!(
        "nono: denied read of {tool} (execve) → add --read {} (or --read-file {tool})\n",
        s.s("bin")
    ));
    // Nothing else, and nothing inside the write grant.
    let denied: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("nono: denied"))
        .collect();
    assert_eq!(denied.len(), 5, "{out}");
    assert!(
        denied
            .iter()
            .all(|l| l.contains(&format!("{ro}/")) || l.contains(&tool)),
        "{out}"
    );
    assert!(!out.stderr.contains(&format!("of {w}/")), "{out}");
}

#[test]
fn entry_operations_and_exec_inside_the_grants_are_not_reported() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("report-quiet");
    s.mkdir("w");
    let tool = tool(&s, "bin/tool");
    let w = s.s("w");
    // `mkdir -p /usr` meets an existing directory (EEXIST before Landlock): not a denial.
    let script = format!(
        "set -e; mkdir {w}/d; touch {w}/d/f; ln {w}/d/f {w}/d/h; ln -s f {w}/d/s; \
         mv {w}/d/f {w}/d/g; mkfifo {w}/d/p; truncate -s 0 {w}/d/g; rm -r {w}/d; \
         mkdir -p /usr; {tool}; echo all-ran"
    );
    let out = nono(
        &s.path,
        [
            "run",
            "--allow",
            &w,
            "--read",
            &s.s("bin"),
            "--",
            "sh",
            "-c",
            &script,
        ],
    );
    out.expect_code(0).stdout_has("all-ran");
    assert!(!out.stderr.contains("nono: denied"), "{out}");
}
