//! Validation: values that parse but make no sense (unknown or mandatory deny groups, bad
//! patterns, ports, origins, limits), refused with the profile and the field named.

use super::{env_policy, Profile, ProfileError};
use crate::deny_groups;

impl Profile {
    /// Check values that parse but make no sense. [`load`](super::load()) calls this.
    pub fn validate(&self) -> Result<(), ProfileError> {
        let invalid = |field: String, message: String| ProfileError::Invalid {
            profile: self.name.clone(),
            field,
            message,
        };
        for (name, on) in &self.deny_groups {
            match deny_groups::group(name) {
                None => {
                    return Err(invalid(
                        format!("groups.{name}"),
                        format!(
                            "unknown deny group (known: {})",
                            deny_groups::group_names().join(", ")
                        ),
                    ))
                }
                Some(g) if !g.optional && !on => {
                    return Err(invalid(
                        format!("groups.{name}"),
                        format!(
                            "the `{name}` group cannot be switched off: {} (remove the entry)",
                            g.description
                        ),
                    ))
                }
                Some(_) => {}
            }
        }
        let path_ok = |p: &str| p.starts_with(['/', '~', '$']);
        let fs = &self.filesystem;
        for (field, list) in [
            ("allow", &fs.allow),
            ("read", &fs.read),
            ("write", &fs.write),
        ] {
            for (i, e) in list.iter().enumerate() {
                if !path_ok(&e.path) {
                    return Err(invalid(
                        format!("filesystem.{field}[{i}]"),
                        format!(
                            "`{}` is relative; use an absolute path, ~ or $WORKDIR",
                            e.path
                        ),
                    ));
                }
            }
        }
        for (i, d) in fs.deny.iter().enumerate() {
            if !path_ok(d) {
                return Err(invalid(
                    format!("filesystem.deny[{i}]"),
                    format!("`{d}` is relative; use an absolute path, ~ or $WORKDIR"),
                ));
            }
            if d.split('/').any(|c| c == "**") {
                return Err(invalid(
                    format!("filesystem.deny[{i}]"),
                    "`**` is not supported in deny patterns (deny the directory itself instead)"
                        .to_owned(),
                ));
            }
        }
        let n = &self.network;
        if n.block == Some(true) && (!n.connect.is_empty() || !n.bind.is_empty()) {
            return Err(invalid(
                "network".to_owned(),
                "`block: true` cannot be combined with `connect`/`bind` ports (set block to false to allow only those ports)".to_owned(),
            ));
        }
        if n.block == Some(true) && n.has_egress_rules() {
            return Err(invalid(
                "network".to_owned(),
                "`block: true` cannot be combined with domain rules (allow_domain, deny_domain, network_profile): drop `block` to confine the command to nono's proxy".to_owned(),
            ));
        }
        for (field, list) in [("connect", &n.connect), ("bind", &n.bind)] {
            if let Some(i) = list.iter().position(|&p| p == 0) {
                return Err(invalid(
                    format!("network.{field}[{i}]"),
                    "port 0 is not a port (use 1-65535)".to_owned(),
                ));
            }
        }
        for (field, list) in [
            ("allow", &self.environment.allow),
            ("deny", &self.environment.deny),
        ] {
            for (i, p) in list.iter().enumerate() {
                if p.is_empty() || p.contains(['=', '/', '\0']) {
                    return Err(invalid(
                        format!("environment.{field}[{i}]"),
                        format!("`{p}` is not a variable name or pattern"),
                    ));
                }
            }
        }
        for (name, value) in &self.environment.set {
            let bad = env_policy::check_name(std::ffi::OsStr::new(name))
                .err()
                .map(|e| e.to_string())
                .or_else(|| {
                    value
                        .contains('\0')
                        .then(|| "the value contains a NUL byte".to_owned())
                });
            if let Some(message) = bad {
                return Err(invalid(format!("environment.set.{name}"), message));
            }
        }
        let s = &self.supervisor;
        for (i, a) in s.approve.iter().enumerate() {
            if !path_ok(&a.path) {
                return Err(invalid(
                    format!("supervisor.approve[{i}].path"),
                    format!(
                        "`{}` is relative; use an absolute path, ~ or $WORKDIR",
                        a.path
                    ),
                ));
            }
        }
        for (i, o) in s.allowed_origins.iter().enumerate() {
            if let Err(e) = crate::url::check_allowed_origins(&[o]) {
                return Err(invalid(
                    format!("supervisor.allowed_origins[{i}]"),
                    e.to_string(),
                ));
            }
        }
        if let Some(t) = s.prompt_timeout_secs {
            if !(1..=86_400).contains(&t) {
                return Err(invalid(
                    "supervisor.prompt_timeout_secs".to_owned(),
                    "must be between 1 and 86400 seconds".to_owned(),
                ));
            }
        }
        if let Err((field, message)) = self.limits.parse() {
            return Err(invalid(field.to_owned(), message));
        }
        if let Some(r) = s.rate_limit {
            if r.prompts == 0 || r.per_secs == 0 {
                return Err(invalid(
                    "supervisor.rate_limit".to_owned(),
                    "prompts and per_secs must both be at least 1 (set capability_elevation to false to allow no prompts)".to_owned(),
                ));
            }
        }
        Ok(())
    }
}
