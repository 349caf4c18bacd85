//! Environment injection: LD_PRELOAD and the other loader/libc variables set for nono must
//! not reach the sandboxed program, and a malicious preload library must not run in it.
//! (It does run in nono itself: that environment is the user's own.)

use std::process::Command;

use crate::harness::{nono_bin, output, Scratch};
use crate::programs::{bins, in_nono, Outcome, MODES};

#[test]
fn env_injection_variables_stripped() {
    let Some(b) = bins() else { return };
    let evil = b.libevil().display().to_string();
    let injected = [
        ("LD_PRELOAD", evil.as_str()),
        ("LD_AUDIT", evil.as_str()),
        ("LD_LIBRARY_PATH", "/nonexistent/nono-escape"),
        ("GCONV_PATH", "/nonexistent/nono-escape"),
        ("GLIBC_TUNABLES", "glibc.malloc.check=3"),
        ("HOSTALIASES", "/nonexistent/nono-escape"),
        ("NONO_ESCAPE_KEEP", "kept"),
    ];
    let nono = nono_bin().display().to_string();
    for mode in MODES {
        let s = Scratch::new(&format!("env-{}", mode.as_str()));
        let out = in_nono(mode, &s.path, &injected, &[], &b.probe(), &["env", "e"]);
        let vars: Vec<&str> = out
            .run
            .stdout
            .lines()
            .filter_map(|l| l.strip_prefix("e.var="))
            .collect();
        assert!(
            vars.contains(&"NONO_ESCAPE_KEEP=kept"),
            "the environment is passed\n{}",
            out.run
        );
        for (k, _) in &injected[..6] {
            assert!(
                !vars.iter().any(|v| v.starts_with(&format!("{k}="))),
                "{k} reached the child\n{}",
                out.run
            );
        }
        // The library may run in nono (the user's environment), never in the probe.
        for line in out
            .run
            .stderr
            .lines()
            .filter(|l| l.starts_with("INJECTED exe="))
        {
            assert_eq!(line, format!("INJECTED exe={nono}"), "{}", out.run);
        }

        // Control: the same environment, no nono: the library runs in the probe.
        let mut cmd = Command::new(b.probe());
        cmd.current_dir(&s.path).envs(injected).args(["env", "e"]);
        let control = Outcome::parse(output(&mut cmd));
        let probe_line = format!("INJECTED exe={}", b.probe().display());
        assert!(control.run.stderr.contains(&probe_line), "{}", control.run);
        assert!(
            control.run.stdout.contains("e.var=LD_PRELOAD="),
            "{}",
            control.run
        );
    }
}

/// A credential token exported in the user's shell (cloud keys, VCS and registry tokens) must
/// not reach the sandboxed program by default: the program could use it to act as the user
/// on GitHub, AWS, a package registry. The note names the variables, never their values.
#[test]
fn credential_variables_do_not_reach_the_command() {
    let Some(b) = bins() else { return };
    let secrets = [
        ("GITHUB_TOKEN", "ghp_nonoEscapeSecret1"),
        ("AWS_SECRET_ACCESS_KEY", "nonoEscapeSecret2"),
        ("AWS_SESSION_TOKEN", "nonoEscapeSecret3"),
        ("CARGO_REGISTRY_TOKEN", "nonoEscapeSecret4"),
        ("NPM_TOKEN", "nonoEscapeSecret5"),
    ];
    for mode in MODES {
        let s = Scratch::new(&format!("env-creds-{}", mode.as_str()));
        let out = in_nono(mode, &s.path, &secrets, &[], &b.probe(), &["env", "e"]);
        for (k, v) in &secrets {
            assert!(
                !out.run.stdout.contains(&format!("e.var={k}=")),
                "{k} reached the child\n{}",
                out.run
            );
            assert!(
                out.run.stderr.contains(k),
                "{k} is named in the note\n{}",
                out.run
            );
            assert!(
                !out.run.stderr.contains(v),
                "a value was printed\n{}",
                out.run
            );
        }

        // Control: the same environment, no nono: the probe sees every token.
        let mut cmd = Command::new(b.probe());
        cmd.current_dir(&s.path).envs(secrets).args(["env", "e"]);
        let control = Outcome::parse(output(&mut cmd));
        for (k, v) in &secrets {
            assert!(
                control.run.stdout.contains(&format!("e.var={k}={v}")),
                "{}",
                control.run
            );
        }
    }
}
