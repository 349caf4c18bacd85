//! `nono profile list|show|validate|schema`: the profiles' own output goes to stdout.

use std::path::Path;

use nono_supervisor::profile;

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
            Ok(0)
        }
        ProfileCommand::Show { name } => {
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
        ProfileCommand::Schema => {
            outln!("{}", profile::schema().trim_end());
            Ok(0)
        }
    }
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
