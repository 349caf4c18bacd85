//! The `nono` binary as users get it: `cargo xtask install`, and the binary the tests and the
//! bench run (issue 14, start-up).
//!
//! On a glibc Linux host nono is linked statically, as a static PIE (ASLR kept): every start
//! of a dynamically linked Rust program pays the loader — mapping `libc.so` and
//! `libgcc_s.so`, their relocations and symbol lookups — before `main`. Measured on the
//! 2-core VM of issue 14 (fork+exec+exit, medians of 150 interleaved runs): a Rust "hello"
//! 832 µs dynamic against 556 µs static; `nono --version` 1.32 → 1.10 ms; `nono wrap -s`
//! −170 µs, `nono run -s` −290 µs (the supervisor's forks copy fewer mappings too).
//!
//! What nono gives up: glibc loads NSS modules into a static program only from the exact
//! glibc version it was linked with. nono's only NSS use is the egress proxy's
//! `getaddrinfo`, and glibc (2.34 and later) has the `files` and `dns` sources built in, so
//! `/etc/hosts` and the resolver always work; other `hosts:` modules (`mdns4_minimal`,
//! `myhostname`, `resolve`) are skipped after a glibc upgrade until nono is rebuilt. The
//! install section of `docs/guide/README.md` says so.
//!
//! Cargo cannot set a flag for one package, and `-C target-feature=+crt-static` on the host's
//! own artifacts breaks the proc-macros (they are shared libraries). So the static build names
//! its target explicitly (`--target <host>`): then `RUSTFLAGS` reaches only the target's
//! crates, and the result lands in `target/<host>/<profile>/nono`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::{cargo, run, workspace_root};

/// How a `nono` binary is linked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Linkage {
    /// A static PIE: no program interpreter, no shared libraries.
    Static,
    /// Linked against the system's shared libraries, and why.
    Dynamic(&'static str),
}

impl Linkage {
    /// For tables and JSON: `static` or `dynamic`.
    pub fn name(&self) -> &'static str {
        match self {
            Linkage::Static => "static",
            Linkage::Dynamic(_) => "dynamic",
        }
    }
}

/// Which cargo profile to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    Debug,
    Release,
}

impl Profile {
    fn dir(self) -> &'static str {
        match self {
            Profile::Debug => "debug",
            Profile::Release => "release",
        }
    }
}

/// A built `nono`.
#[derive(Debug)]
pub struct Built {
    pub path: PathBuf,
    pub linkage: Linkage,
}

/// The flag that makes rustc link the C runtime statically.
const CRT_STATIC: &str = "-C target-feature=+crt-static";

/// The host's target triple, as `rustc -vV` prints it.
pub fn host_triple() -> Result<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(&rustc)
        .arg("-vV")
        .output()
        .with_context(|| format!("cannot run {} -vV", rustc.to_string_lossy()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_owned)
        .with_context(|| format!("`rustc -vV` printed no `host:` line:\n{text}"))
}

/// What linkage this host can give nono: static on Linux — with glibc when the C library's
/// static archive is installed (Debian: `libc6-dev`); musl links statically anyway.
pub fn linkage_for(host: &str) -> Linkage {
    if host.ends_with("-linux-musl") {
        return Linkage::Static;
    }
    if !host.ends_with("-linux-gnu") {
        return Linkage::Dynamic("static linking is set up for Linux hosts only");
    }
    if !static_libc_installed() {
        return Linkage::Dynamic("no static C library (libc.a); install libc6-dev or glibc-static");
    }
    Linkage::Static
}

/// Whether the C compiler finds `libc.a` (`cc -print-file-name` prints the bare name when it
/// does not).
fn static_libc_installed() -> bool {
    let cc = std::env::var_os("CC").unwrap_or_else(|| "cc".into());
    Command::new(cc)
        .arg("-print-file-name=libc.a")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .is_some_and(|o| {
            let p = String::from_utf8_lossy(&o.stdout);
            let p = Path::new(p.trim());
            p.is_absolute() && p.is_file()
        })
}

/// Put the static build's flag on a cargo command (which must also get `--target <host>`),
/// after the caller's own flags, in whichever variable cargo reads (`CARGO_ENCODED_RUSTFLAGS`
/// wins over `RUSTFLAGS` when both are set).
fn with_static_flags(cmd: &mut Command) -> &mut Command {
    match std::env::var("CARGO_ENCODED_RUSTFLAGS") {
        Ok(own) => {
            let mut flags: Vec<&str> = own.split('\x1f').filter(|f| !f.is_empty()).collect();
            flags.extend(CRT_STATIC.split(' '));
            cmd.env("CARGO_ENCODED_RUSTFLAGS", flags.join("\x1f"))
        }
        Err(_) => match std::env::var("RUSTFLAGS") {
            Ok(own) if !own.trim().is_empty() => {
                cmd.env("RUSTFLAGS", format!("{own} {CRT_STATIC}"))
            }
            _ => cmd.env("RUSTFLAGS", CRT_STATIC),
        },
    }
}

/// Build `nono` as users get it, and check that the result is linked as promised.
pub fn build_nono(profile: Profile) -> Result<Built> {
    let host = host_triple()?;
    let linkage = linkage_for(&host);
    let mut cmd = cargo();
    cmd.args(["build", "-p", "nono-cli", "--bin", "nono"]);
    if profile == Profile::Release {
        cmd.arg("--release");
    }
    let path = match &linkage {
        Linkage::Static => {
            with_static_flags(cmd.args(["--target", &host]));
            target_dir()?.join(&host).join(profile.dir()).join("nono")
        }
        Linkage::Dynamic(why) => {
            eprintln!("xtask: nono will be linked dynamically ({why}); it starts slower");
            target_dir()?.join(profile.dir()).join("nono")
        }
    };
    run(&mut cmd)?;
    check_linkage(&path, &linkage)?;
    Ok(Built { path, linkage })
}

/// `cargo xtask install [--root DIR]`: `cargo install` of nono, static where the host allows.
pub fn install(rest: &[String]) -> Result<()> {
    let mut root: Option<&str> = None;
    let mut args = rest.iter();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--root" => {
                root = Some(
                    args.next()
                        .context("--root needs a directory (e.g. --root ~/.local)")?,
                );
            }
            other => bail!("unknown install option `{other}` (expected --root DIR)"),
        }
    }
    let host = host_triple()?;
    let linkage = linkage_for(&host);
    let mut cmd = cargo();
    cmd.args(["install", "--locked", "--path", "crates/nono-cli"]);
    if let Some(r) = root {
        cmd.args(["--root", r]);
    }
    match &linkage {
        Linkage::Static => {
            with_static_flags(cmd.args(["--target", &host]));
        }
        Linkage::Dynamic(why) => {
            eprintln!("xtask: nono will be linked dynamically ({why}); it starts slower");
        }
    }
    run(&mut cmd)?;
    // Where cargo put it (unless an `install.root` in cargo's config moved it elsewhere).
    let root = root
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("CARGO_INSTALL_ROOT").map(PathBuf::from))
        .or_else(|| std::env::var_os("CARGO_HOME").map(PathBuf::from))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    match root.map(|r| r.join("bin/nono")).filter(|p| p.is_file()) {
        Some(bin) => {
            check_linkage(&bin, &linkage)?;
            eprintln!(
                "xtask: installed {} ({} build)",
                bin.display(),
                linkage.name()
            );
        }
        None => eprintln!("xtask: installed nono ({} build)", linkage.name()),
    }
    Ok(())
}

/// The cargo target directory, as cargo itself finds it (`cargo metadata`): besides
/// `CARGO_TARGET_DIR`, cargo reads `CARGO_BUILD_TARGET_DIR` and `build.target-dir` of any
/// cargo configuration (the user's `~/.cargo/config.toml`). Guessing from
/// `CARGO_TARGET_DIR` alone (red team 10) checked, and handed the tests, a stale
/// `target/…/nono` of an earlier build while cargo had just built the new one elsewhere.
pub fn target_dir() -> Result<PathBuf> {
    target_dir_of(cargo())
}

/// [`target_dir`] asked of the cargo command `cmd` (with its environment).
fn target_dir_of(mut cmd: Command) -> Result<PathBuf> {
    let out = cmd
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(workspace_root())
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("cannot run `cargo metadata` to find the target directory")?;
    if !out.status.success() {
        bail!(
            "`cargo metadata` failed ({}): cannot find the target directory",
            out.status
        );
    }
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout)
        .context("`cargo metadata` printed something that is not JSON")?;
    meta.get("target_directory")
        .and_then(serde_json::Value::as_str)
        .map(PathBuf::from)
        .context("`cargo metadata` printed no `target_directory`")
}

/// Fail unless a binary meant to be static is a static PIE (a build that quietly fell back to
/// dynamic linking would measure, test and ship something else; one linked at a fixed address
/// would ship without ASLR). A dynamic build was announced with its reason and is not checked
/// (on macOS it is not even ELF).
fn check_linkage(path: &Path, want: &Linkage) -> Result<()> {
    if *want != Linkage::Static {
        return Ok(());
    }
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    check_static_pie(&bytes, path)
}

/// [`check_linkage`] of the image `elf` read from `path`: no program interpreter, and
/// position-independent (`ET_DYN`), so that the kernel loads it at a random address.
fn check_static_pie(elf: &[u8], path: &Path) -> Result<()> {
    const ET_DYN: u16 = 3;
    let has_interp = elf_has_interpreter(elf)
        .with_context(|| format!("{} is not a 64-bit little-endian ELF file", path.display()))?;
    if has_interp {
        bail!(
            "{} was built with {CRT_STATIC} but still names a program interpreter (it is \
             dynamically linked); check RUSTFLAGS and the C toolchain",
            path.display()
        );
    }
    // `e_type`: a static program that is not `ET_DYN` is linked at a fixed address
    // (`-C relocation-model=static` in RUSTFLAGS, or a toolchain without static-pie).
    let e_type = elf
        .get(0x10..0x12)
        .map(|b| u16::from_le_bytes([b[0], b[1]]));
    if e_type != Some(ET_DYN) {
        bail!(
            "{} is linked statically but is not position-independent (ELF type {}, not \
             ET_DYN): its code would sit at a fixed address, without ASLR; remove \
             `-C relocation-model=static` (or any non-PIC relocation model) from RUSTFLAGS, \
             or use a C toolchain that can link a static PIE (gcc 8 or newer)",
            path.display(),
            e_type.map_or_else(|| "unknown".to_owned(), |t| t.to_string())
        );
    }
    Ok(())
}

/// Whether a 64-bit little-endian ELF image has a `PT_INTERP` program header (it is
/// dynamically linked); `None` when the image is not one or its headers run past its end.
fn elf_has_interpreter(elf: &[u8]) -> Option<bool> {
    const PT_INTERP: u32 = 3;
    if elf.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let u16_at = |o: usize| Some(u16::from_le_bytes(elf.get(o..o + 2)?.try_into().ok()?));
    let u32_at = |o: usize| Some(u32::from_le_bytes(elf.get(o..o + 4)?.try_into().ok()?));
    let u64_at = |o: usize| Some(u64::from_le_bytes(elf.get(o..o + 8)?.try_into().ok()?));
    let phoff = usize::try_from(u64_at(0x20)?).ok()?;
    let phentsize = usize::from(u16_at(0x36)?);
    let phnum = usize::from(u16_at(0x38)?);
    let mut found = false;
    for i in 0..phnum {
        let at = phoff.checked_add(i.checked_mul(phentsize)?)?;
        found |= u32_at(at)? == PT_INTERP;
    }
    Some(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Red team 10: the target directory is cargo's, also when it comes from
    /// `CARGO_BUILD_TARGET_DIR` (or `build.target-dir` in a cargo configuration), not only
    /// from `CARGO_TARGET_DIR`; otherwise the check and the tests took a stale binary.
    #[test]
    fn the_target_directory_is_the_one_cargo_builds_into() {
        let elsewhere = std::env::temp_dir().join(format!("xtask-rt10-{}", std::process::id()));
        let mut cmd = cargo();
        cmd.env_remove("CARGO_TARGET_DIR")
            .env("CARGO_BUILD_TARGET_DIR", &elsewhere);
        assert_eq!(target_dir_of(cmd).unwrap(), elsewhere);
        let mut cmd = cargo();
        cmd.env("CARGO_TARGET_DIR", &elsewhere);
        assert_eq!(target_dir_of(cmd).unwrap(), elsewhere);
    }

    /// A 64-bit little-endian ELF header with one program header, a `PT_LOAD`.
    fn one_load_header_elf() -> Vec<u8> {
        let mut elf = vec![0u8; 0x40 + 56];
        elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
        elf[0x20..0x28].copy_from_slice(&0x40u64.to_le_bytes()); // e_phoff
        elf[0x36..0x38].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
        elf[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes()); // e_phnum
        elf[0x40..0x44].copy_from_slice(&1u32.to_le_bytes()); // PT_LOAD
        elf
    }

    #[test]
    fn interpreter_is_seen_in_a_dynamic_program_and_not_in_a_static_one() {
        // Any dynamically linked program of the machine, and a handmade header without one.
        let sh = std::fs::read("/bin/sh").expect("read /bin/sh");
        assert_eq!(elf_has_interpreter(&sh), Some(true));

        let mut elf = one_load_header_elf();
        assert_eq!(elf_has_interpreter(&elf), Some(false));
        elf[0x40..0x44].copy_from_slice(&3u32.to_le_bytes()); // PT_INTERP
        assert_eq!(elf_has_interpreter(&elf), Some(true));
    }

    /// Red team 9: a static image linked at a fixed address (`ET_EXEC`, what
    /// `-C relocation-model=static` in the caller's RUSTFLAGS gives) has no interpreter
    /// either, and must not pass as the promised static PIE.
    #[test]
    fn a_static_program_at_a_fixed_address_is_refused() {
        let mut elf = one_load_header_elf();
        let path = Path::new("nono");
        elf[0x10..0x12].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
        let err = check_static_pie(&elf, path).unwrap_err().to_string();
        assert!(err.contains("not position-independent"), "{err}");
        elf[0x10..0x12].copy_from_slice(&3u16.to_le_bytes()); // ET_DYN: a static PIE
        check_static_pie(&elf, path).unwrap();
        elf[0x40..0x44].copy_from_slice(&3u32.to_le_bytes()); // PT_INTERP: dynamic
        assert!(check_static_pie(&elf, path).is_err());
    }

    #[test]
    fn truncated_or_foreign_images_are_not_judged() {
        assert_eq!(elf_has_interpreter(b""), None);
        assert_eq!(elf_has_interpreter(b"#!/bin/sh\n"), None);
        let mut elf = vec![0u8; 0x40];
        elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
        elf[0x20..0x28].copy_from_slice(&0x40u64.to_le_bytes());
        elf[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        elf[0x38..0x3a].copy_from_slice(&4u16.to_le_bytes()); // headers past the end
        assert_eq!(elf_has_interpreter(&elf), None);
    }

    #[test]
    fn only_linux_hosts_are_linked_statically() {
        assert!(matches!(
            linkage_for("aarch64-apple-darwin"),
            Linkage::Dynamic(_)
        ));
        assert_eq!(linkage_for("x86_64-unknown-linux-musl"), Linkage::Static);
    }
}
