//! Escapes found by the second adversarial (red-team) pass, over the features merged for
//! issue 11 and the egress proxy (runtime grants of path operations, learn's broad domain,
//! spine listing, the proxy). Each test is the reproducer of a finding and FAILS on the code
//! it was written against; it is meant to pass once the finding is fixed. Names start with
//! `redteam2_`.

use crate::harness::Scratch;
use crate::programs::{bins, marker, probe_bare, probe_in, Mode};

/// RED TEAM 2 finding 1: `--approve DIR` brokers `rename(2)`, and each name is asked of the
/// policy engine only when it lies *outside the static grants*, judged by
/// `path_ops::outside` with the **lexical** path (`StaticGrants::fast_allows(parent)`). A
/// name whose lexical parent is inside a `--write` grant but *is a symlink* to a directory
/// outside every grant is therefore "inside", never asked; the supervisor then canonicalises
/// the parent (following the symlink) and performs the rename there, as the child. So with
/// `--write proj --approve appr`:
/// - `ln -s /anywhere proj/l; mv proj/l/FILE appr/x` moves any file the user can rename
///   (root: any file) out of a directory no grant covers, into the approval, where it is
///   then read: **read anything**, and the original is gone;
/// - `mv appr/evil proj/l/FILE` replaces any file in any directory the user can write
///   (root: `/etc/passwd`, `/etc/ld.so.preload`, another user's `~/.bashrc`): **write
///   anything**.
///
/// Landlock refuses both (the parent outside the grants has no `REFER`/`MAKE_REG`); the
/// broker performs them with the supervisor's (unconfined) view. (A source or destination in
/// a deny group was refused in this pass: a separate check catches those.)
///
/// Reproducer (root):
/// ```text
/// mkdir -p proj appr outside; echo secret > outside/f; echo orig > outside/g
/// ln -s $PWD/outside proj/l; echo evil > appr/evil-src   # (made before the run)
/// nono run --write proj --approve appr -- sh -c \
///   'mv proj/l/f appr/stolen; cat appr/stolen; mv appr/evil-src proj/l/g'
/// cat outside/g        # evil; outside/f is gone
/// ```
/// Fix direction: decide every name of a brokered operation on its canonical parent (or
/// ask the engine for each name that is not inside the static grants *canonically*), and
/// perform on what was decided.
#[test]
fn redteam2_approve_rename_through_symlinked_granted_parent_reaches_outside() {
    let Some(_b) = bins() else { return };
    let secret = marker("rt2-rename");
    let s = Scratch::new("redteam2-rename");
    s.mkdir("proj");
    s.mkdir("appr");
    s.write("outside/f", &secret);
    s.write("outside/g", "orig\n");
    s.write("appr/evil", "evil\n");
    std::os::unix::fs::symlink(s.join("outside"), s.join("proj/l")).unwrap();
    let steps = [
        "read",
        "direct_read",
        &s.s("outside/f"),
        "rename",
        "steal",
        &s.s("proj/l/f"),
        &s.s("appr/stolen"),
        "read",
        "stolen_read",
        &s.s("appr/stolen"),
        "rename",
        "plant",
        &s.s("appr/evil"),
        &s.s("proj/l/g"),
    ];
    let out = probe_in(
        Mode::Run,
        &s.join("proj"),
        &["--write", &s.s("proj"), "--approve", &s.s("appr")],
        &steps,
    );
    // The file outside every grant is not readable directly: the sandbox is in force.
    out.expect(&[("direct_read", "EACCES")]);
    let moved_out = !s.join("outside/f").exists();
    let planted = std::fs::read_to_string(s.join("outside/g")).unwrap_or_default() != "orig\n";
    // Put things back so a failure leaves nothing surprising behind.
    if s.join("appr/stolen").exists() {
        let _ = std::fs::rename(s.join("appr/stolen"), s.join("outside/f"));
    }
    out.expect(&[("steal", "EACCES"), ("plant", "EACCES")])
        .never_printed(&secret);
    assert!(
        !moved_out,
        "a file outside every grant was moved out\n{}",
        out.run
    );
    assert!(
        !planted,
        "a file outside every grant was replaced\n{}",
        out.run
    );

    // The control: unsandboxed, the same steps move and plant.
    let s = Scratch::new("redteam2-rename-bare");
    s.mkdir("proj");
    s.mkdir("appr");
    s.write("outside/f", &secret);
    s.write("outside/g", "orig\n");
    s.write("appr/evil", "evil\n");
    std::os::unix::fs::symlink(s.join("outside"), s.join("proj/l")).unwrap();
    let bare = probe_bare(
        &s.join("proj"),
        &[
            "rename",
            "steal",
            &s.s("proj/l/f"),
            &s.s("appr/stolen"),
            "rename",
            "plant",
            &s.s("appr/evil"),
            &s.s("proj/l/g"),
        ],
    );
    bare.expect(&[("steal", "ok"), ("plant", "ok")]);
}
