//! The README's first command is true: it runs under the default profile and shows a real
//! kernel denial with nono's report.

use std::path::Path;

use crate::harness::{nono_bin, output, sandbox_available};

#[test]
fn readme_first_command_shows_a_denial() {
    if !sandbox_available() {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let block = readme
        .split("## First commands")
        .nth(1)
        .expect("README has a 'First commands' section");
    let prefix = "cargo run -q -p nono-cli -- ";
    let line = block
        .lines()
        .find(|l| l.starts_with(prefix))
        .expect("first command runs nono through cargo");
    let args = &line[prefix.len()..];
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg(format!("exec \"$NONO\" {args}"))
        .env("NONO", nono_bin())
        .current_dir(root)
        .stdin(std::process::Stdio::null());
    let out = output(&mut cmd);
    out.expect_code(0)
        .stdout_has("exit=")
        .stderr_has("Permission denied")
        .stderr_has("nono: denied read of ")
        .stderr_has("→ add --read ");
}
