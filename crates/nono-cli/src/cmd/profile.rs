//! `nono profile list|show|validate|schema|trust`: the profiles' own output goes to stdout.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nono_supervisor::escape;
use nono_supervisor::planted::{self, WriteHistory};
use nono_supervisor::profile;
use nono_supervisor::profile_trust::{self, TrustedProfiles};

use crate::exit::{Failure, NEGATIVE};
use crate::flags::ProfileCommand;
use crate::ui::outln;

/// Dispatch a `nono profile` subcommand.
pub fn profile(command: ProfileCommand) -> anyhow::Result<i32> {
    match command {
        ProfileCommand::List => {
            for name in profile::list() {
                let description = profile::load(name)
                    .ok()
                    .and_then(|p| p.description)
                    .unwrap_or_default();
                outln!("{name:<10} {description}");
            }
            outln!();
            outln!("network profiles (--network-profile NAME, network.network_profile):");
            for p in nono_proxy::NETWORK_PROFILES {
                outln!(
                    "  {:<20} {} (groups: {})",
                    p.name,
                    p.description,
                    p.groups.join(", ")
                );
            }
            for g in nono_proxy::NETWORK_GROUPS {
                outln!("  {:<20} {}", g.name, g.description);
            }
            Ok(0)
        }
        ProfileCommand::Show { name } => {
            if profile::load(&name).is_err() {
                if let Some(hosts) = nono_proxy::profile_hosts(&name) {
                    // A network profile: its --allow-domain values.
                    outln!("network profile {name}: --allow-domain for each of");
                    for h in hosts {
                        outln!("  {h}");
                    }
                    return Ok(0);
                }
            }
            let p = profile::load(&name).map_err(|e| {
                let hint = crate::suggest::profile(&name)
                    .map(|b| format!(" — did you mean `{b}`?"))
                    .unwrap_or_default();
                Failure::nono(format!("{name}: {e}{hint}"))
            })?;
            outln!("{}", p.to_json_pretty());
            Ok(0)
        }
        ProfileCommand::Validate { file } => validate(&file),
        ProfileCommand::Trust { name, sha256 } => trust(&name, &sha256),
        ProfileCommand::Schema => {
            outln!("{}", profile::schema().trim_end());
            Ok(0)
        }
    }
}

/// One `--sha256`: the content the user read of the profile's own file (the one `trust`
/// names: `HEX`), or of another file of its `extends` chain (`FILE=HEX`).
struct Sha256Arg {
    /// `None`: the named profile's own file.
    file: Option<PathBuf>,
    hex: String,
}

impl Sha256Arg {
    fn parse(spec: &OsStr) -> anyhow::Result<Sha256Arg> {
        // FILE is any path (its hint prints it `$'…'` when it is not UTF-8); HEX is ASCII.
        let bytes = spec.as_bytes();
        let (file, hex) = match bytes.iter().rposition(|&b| b == b'=') {
            Some(at) => (
                Some(Path::new(OsStr::from_bytes(&bytes[..at]))),
                &bytes[at + 1..],
            ),
            None => (None, bytes),
        };
        // Shown as a path: bytes that are not UTF-8 as `\xNN`, controls escaped.
        let shown = escape::path(Path::new(spec));
        let hex = String::from_utf8_lossy(hex).trim().to_ascii_lowercase();
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Failure::with_code(
                2,
                format!(
                    "--sha256 {}: not a sha256 (64 hexadecimal digits, as nono printed it; FILE=HEX for another file of the profile)",
                    shown
                ),
            )
            .into());
        }
        let file = match file {
            Some(f) => Some(
                std::path::absolute(f)
                    .map_err(|e| Failure::with_code(2, format!("--sha256 {}: {e}", shown)))?,
            ),
            None => None,
        };
        Ok(Sha256Arg { file, hex })
    }

    /// Whether this is the hash given for `f` (`own`: `f` is the named profile's own file).
    fn names(&self, f: &profile::ProfileFile, own: bool) -> bool {
        match &self.file {
            None => own,
            Some(file) => *file == f.at || *file == f.spelled || *file == f.canonical,
        }
    }
}

/// Record the present content of every file `name` is read from as trusted (see
/// [`nono_supervisor::profile_trust`]); owner and mode are still checked. With `expected`
/// (`--sha256`), each hash is bound to one file (`HEX`: the named profile's own file, as the
/// refusal's hint prints it; `FILE=HEX`: another file of its chain), each file that needs
/// trust must have one, and each must be that file's content now, or nothing is recorded: the
/// content the user read, of the file they read it in, is what is trusted, even if a run still
/// going rewrites (or swaps) files between the reading and the trust.
fn trust(name: &str, expected: &[OsString]) -> anyhow::Result<i32> {
    let wanted = expected
        .iter()
        .map(|spec| Sha256Arg::parse(spec))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if wanted.iter().filter(|w| w.file.is_none()).count() > 1 {
        return Err(Failure::with_code(
            2,
            "--sha256 HEX names the profile's own file, once: give the hash of another file of its `extends` chain as --sha256 FILE=HEX",
        )
        .into());
    }
    let p = profile::load(name).map_err(|e| Failure::nono(format!("{name}: {e}")))?;
    if p.files.is_empty() {
        outln!("{name} is built into nono: there is nothing to trust");
        return Ok(0);
    }
    let vars = profile::Vars::from_env().ok_or_else(|| {
        Failure::nono("cannot tell where nono keeps its state: set HOME (or XDG_STATE_HOME)")
    })?;
    let store = TrustedProfiles::file(&vars.xdg_state_home);
    let mut trusted = TrustedProfiles::load(&store)
        .map_err(|e| Failure::nono(format!("cannot read {}: {e}", store.display())))?;
    profile_trust::check(
        &p.files,
        &WriteHistory::default(),
        &trusted,
        planted::user_id(),
        &vars.xdg_config_home.join("nono"),
    )
    .map_err(|e| Failure::nono(format!("{name}: {e}")))?;
    if !wanted.is_empty() {
        // A file the run-time check accepts as it is (no run could have written it, or it
        // is in nono's own configuration) needs no hash: the hint printed for the file that
        // does must work as printed.
        let (_, history) = crate::plan::load_write_history(&vars)?;
        let own_config = vars.xdg_config_home.join("nono");
        let needs_trust = |f: &profile::ProfileFile| {
            !trusted.trusts(f)
                && profile_trust::check(
                    std::slice::from_ref(f),
                    &history,
                    &trusted,
                    planted::user_id(),
                    &own_config,
                )
                .is_err()
        };
        let hint = |f: &profile::ProfileFile, own: bool| {
            if own {
                format!("--sha256 {}", f.sha256)
            } else {
                format!("--sha256 {}={}", escape::shell_path(&f.at), f.sha256)
            }
        };
        // The chain's files, base first: the named profile's own file is the last.
        let own = p.files.len() - 1;
        let mut problems = Vec::new();
        // Each hash given is the content of the file it names, as that file is now: a file
        // changed since (or swapped for another file's shown content) is not trusted under a
        // hash the user gave for what they read.
        for w in &wanted {
            let mut named = p
                .files
                .iter()
                .enumerate()
                .filter(|(i, f)| w.names(f, *i == own));
            let file = named.next();
            // One path naming two files of the chain: a link on it was swapped while the
            // chain was read (a cycle otherwise). The hash would be checked against one of
            // them and the other taken as named by it.
            if let (Some((_, f)), Some(_)) = (file, named.next()) {
                problems.push(format!(
                    "--sha256 {}={}: more than one file of the profile is {} (a link on the way changed while the profile was read; run the command again)",
                    escape::path(&f.at),
                    w.hex,
                    escape::path(&f.at)
                ));
                continue;
            }
            match file {
                Some((_, f)) if f.sha256 == w.hex => {}
                Some((i, f)) => problems.push(format!(
                    "{} is now sha256 {}, not the {} given for it (it changed since its sha256 was printed; read it again, and if it is what you want, give {})",
                    escape::path(&f.at),
                    f.sha256,
                    w.hex,
                    hint(f, i == own)
                )),
                None => problems.push(format!(
                    "--sha256 {}={}: no file of the profile is {} (its files: {})",
                    w.file.as_deref().map(escape::path).unwrap_or_default(),
                    w.hex,
                    w.file.as_deref().map(escape::path).unwrap_or_default(),
                    p.files
                        .iter()
                        .map(|f| escape::path(&f.at))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            }
        }
        // ... and each file that needs trust has a hash of its own.
        for (i, f) in p.files.iter().enumerate() {
            if needs_trust(f) && !wanted.iter().any(|w| w.names(f, i == own)) {
                problems.push(format!(
                    "{} needs trust too and no --sha256 names it (it is sha256 {} now; read it, and if it is what you want, add {})",
                    escape::path(&f.at),
                    f.sha256,
                    hint(f, i == own)
                ));
            }
        }
        if !problems.is_empty() {
            return Err(
                Failure::nono(format!("{name}: nothing trusted: {}", problems.join("; "))).into(),
            );
        }
    }
    trusted.record(&store, &p.files).map_err(|e| {
        Failure::nono(format!(
            "cannot record the trust in {}: {e}",
            store.display()
        ))
    })?;
    for f in &p.files {
        let leads = if f.canonical == f.at {
            String::new()
        } else {
            format!(" -> {}", escape::path(&f.canonical))
        };
        outln!(
            "trusted {}{leads} (sha256 {})",
            escape::path(&f.at),
            f.sha256
        );
    }
    Ok(0)
}

/// Load (resolving `extends`) and check the file; also expand it for this user, so a missing
/// required path is reported too. Status 1 with the problem on stderr if it is invalid.
fn validate(file: &Path) -> anyhow::Result<i32> {
    let result = profile::load_file(file).and_then(|p| {
        if let Some(vars) = profile::Vars::from_env() {
            let vars = match std::env::current_dir() {
                Ok(d) => vars.with_workdir(d),
                Err(_) => vars,
            };
            p.to_caps(&vars)?;
        }
        Ok(p)
    });
    // The network.* domain rules and network profile names are the proxy's to check.
    let result = result.map_err(|e| e.to_string()).and_then(|p| {
        crate::egress::EgressPlan::from_flags(
            &crate::flags::EgressFlags::default(),
            &p,
            &file.display().to_string(),
        )
        .map(|_| p)
        .map_err(|e| match e.downcast_ref::<Failure>() {
            Some(f) => f.message.clone(),
            None => e.to_string(),
        })
    });
    match result {
        Ok(p) => {
            outln!(
                "{}: valid (profile `{}`, extends: {})",
                file.display(),
                p.name,
                p.chain.join(" → ")
            );
            Ok(0)
        }
        Err(e) => {
            eprintln!("nono: {}: invalid: {e}", file.display());
            Ok(NEGATIVE)
        }
    }
}
