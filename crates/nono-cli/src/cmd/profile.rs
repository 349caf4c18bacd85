//! `nono profile list|show|validate|schema|trust`: the profiles' own output goes to stdout.

use std::path::Path;

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

/// Record the present content of every file `name` is read from as trusted (see
/// [`nono_supervisor::profile_trust`]); owner and mode are still checked. With `expected`
/// (`--sha256`), every file that is not trusted yet must have one of those contents, or
/// nothing is recorded: the content the user read is the content trusted, even if a run still
/// going rewrites the file between the reading and the trust.
fn trust(name: &str, expected: &[String]) -> anyhow::Result<i32> {
    let mut wanted = Vec::with_capacity(expected.len());
    for hex in expected {
        let hex = hex.trim().to_ascii_lowercase();
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Failure::with_code(
                2,
                format!(
                    "--sha256 {}: not a sha256 (64 hexadecimal digits, as nono printed it)",
                    escape::text(&hex)
                ),
            )
            .into());
        }
        wanted.push(hex);
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
        let other: Vec<String> = p
            .files
            .iter()
            .filter(|f| needs_trust(f) && !wanted.contains(&f.sha256))
            .map(|f| format!("{} is now sha256 {}", escape::path(&f.at), f.sha256))
            .collect();
        if !other.is_empty() {
            return Err(Failure::nono(format!(
                "{name}: nothing trusted: {}, which no --sha256 names (the file changed since its sha256 was printed, or it is another file of the profile, reached through `extends`); read it again, and if it is what you want, give its sha256 with --sha256",
                other.join("; ")
            ))
            .into());
        }
        // Each hash given must be the content of a file of the profile as it is now: a file
        // rewritten into another file's shown content (a `main.json` made its base's) leaves
        // its own hash unused, and must not be trusted under the other file's hash.
        let unused: Vec<&str> = wanted
            .iter()
            .filter(|h| !p.files.iter().any(|f| &f.sha256 == *h))
            .map(String::as_str)
            .collect();
        if !unused.is_empty() {
            let now: Vec<String> = p
                .files
                .iter()
                .map(|f| format!("{} is now sha256 {}", escape::path(&f.at), f.sha256))
                .collect();
            return Err(Failure::nono(format!(
                "{name}: nothing trusted: no file of the profile has the content of --sha256 {} (a file changed since its sha256 was printed: it may now hold another file's content): {}; read them again, and give the sha256 of each file you want trusted",
                unused.join(", --sha256 "),
                now.join("; ")
            ))
            .into());
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
