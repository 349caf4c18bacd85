//! Tests for profile loading, `extends`, errors, the schema and `to_caps`.

use super::extends::merge;
use super::json_locator::json_path_at;
use super::*;
use crate::deny_groups;
use crate::policy::RateLimit;
use crate::scratch::Scratch;
use nono_sandbox::{AccessMode, NetworkMode, Origin};
use std::path::Path;

fn tmp(tag: &str) -> Scratch {
    Scratch::new(&format!("nono-profile-{}-{tag}", std::process::id()))
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

fn vars() -> Vars {
    Vars::from_env()
        .unwrap_or_else(|| Vars::for_home("/root"))
        .with_workdir(std::env::current_dir().unwrap())
}

#[test]
fn every_builtin_loads_validates_and_applies_here() {
    assert_eq!(list(), ["default", "rust", "python", "node"]);
    for name in list() {
        let p = load(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(p.name, name);
        assert!(p.description.is_some());
        let (caps, _skipped) = p
            .to_caps_with_skipped(&vars())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!caps.grants().is_empty());
        if name != "default" {
            assert_eq!(p.chain, ["default", name]);
        }
    }
}

#[test]
fn default_profile_shape() {
    let p = load("default").unwrap();
    let v = vars();
    let caps = p.to_caps(&v).unwrap();
    let grant = |path: &str| {
        let c = std::fs::canonicalize(path).unwrap();
        caps.grants().iter().find(|g| g.path == c).map(|g| g.access)
    };
    assert_eq!(grant("/usr"), Some(AccessMode::Read));
    assert_eq!(grant("/etc"), Some(AccessMode::Read));
    assert_eq!(grant("/proc"), Some(AccessMode::Read));
    assert_eq!(grant("/tmp"), Some(AccessMode::ReadWrite));
    assert_eq!(grant("/dev/null"), Some(AccessMode::ReadWrite));
    let denied = |path: &str| caps.denies().iter().any(|d| d.path == Path::new(path));
    assert!(denied("/etc/shadow"));
    assert!(denied("/etc/sudoers"));
    assert!(caps
        .denies()
        .iter()
        .any(|d| d.path == v.home.join(".ssh") && d.origin == Origin::Group("credentials".into())));
    assert_eq!(caps.network(), &NetworkMode::Allow);
    assert!(!p.capability_elevation());
    assert_eq!(p.prompt_timeout(), Duration::from_secs(60));
    assert_eq!(p.rate_limit(), RateLimit::default());
    assert_eq!(p.enabled_groups(), deny_groups::group_names());
    let policy = p.policy(&v).unwrap();
    assert_eq!(
        policy.deny.group_of(&v.home.join(".aws/credentials")),
        Some("credentials")
    );
    assert_eq!(
        policy.deny.group_of(Path::new("/etc/shadow")),
        Some("profile default")
    );
}

#[test]
fn extends_chains_merge_lists_and_override_scalars() {
    let d = tmp("chain");
    std::fs::create_dir_all(d.join("data")).unwrap();
    write(
        &d,
        "base.json",
        r#"{"extends": "default",
            "filesystem": {"read": ["$WORKDIR/data"]},
            "network": {"block": true},
            "environment": {"deny": ["AWS_*"]},
            "groups": {"browsers": false},
            "supervisor": {"prompt_timeout_secs": 5, "allowed_origins": ["https://github.com"]}}"#,
    );
    let top = write(
        &d,
        "top.json",
        r#"{"name": "top", "extends": "base.json",
            "filesystem": {"read": ["$WORKDIR/data"], "allow": ["$WORKDIR"]},
            "network": {"block": false, "connect": [443, 80]},
            "environment": {"deny": ["GITHUB_TOKEN"]},
            "groups": {"shell": false},
            "supervisor": {"capability_elevation": true,
                           "approve": [{"path": "$WORKDIR/data/**", "access": "read"}]}}"#,
    );
    let p = load(&top).unwrap();
    assert_eq!(p.name, "top");
    assert_eq!(p.chain, ["default", "base", "top"]);
    assert_eq!(p.extends, None);
    assert_eq!(
        p.filesystem
            .read
            .iter()
            .filter(|e| e.path == "$WORKDIR/data")
            .count(),
        1,
        "duplicates from parent and child are dropped"
    );
    assert!(p.filesystem.read.iter().any(|e| e.path == "/usr"));
    assert_eq!(p.network.block, Some(false));
    assert_eq!(p.network.connect, [80, 443]);
    assert_eq!(p.environment.deny, ["AWS_*", "GITHUB_TOKEN"]);
    assert_eq!(p.supervisor.prompt_timeout_secs, Some(5));
    assert!(p.capability_elevation());
    assert_eq!(p.allowed_origins(), ["https://github.com"]);
    let groups = p.enabled_groups();
    assert!(!groups.contains(&"browsers") && !groups.contains(&"shell"));
    assert!(groups.contains(&"credentials"));

    let v = vars().with_workdir(&d);
    let caps = p.to_caps(&v).unwrap();
    assert!(caps.grants().iter().any(|g| g.path == *d
        && g.access == AccessMode::ReadWrite
        && g.origin.contains(&Origin::Profile("top".into()))));
    assert!(matches!(caps.network(), NetworkMode::Ports { connect, .. } if connect.contains(&443)));
    let policy = p.policy(&v).unwrap();
    assert!(policy.approve[0].grants(&d.join("data/x/y"), AccessMode::Read));
    assert!(!policy.approve[0].grants(&d.join("data/x"), AccessMode::Write));
    assert!(!p.env_policy().allows(std::ffi::OsStr::new("AWS_REGION")));

    // The merged profile prints as JSON that loads back to the same profile.
    let again = write(&d, "again.json", &p.to_json_pretty());
    let mut q = load(&again).unwrap();
    assert_eq!(q.chain, ["top"]);
    q.chain = p.chain.clone();
    // The files read differ (one file now, the chain's files before); the rest is the same.
    assert_eq!(q.files.len(), 1);
    assert_eq!(p.files.len(), 2, "{:?}", p.files);
    q.files = p.files.clone();
    assert_eq!(q, p);
}

/// `network.allow_unix_datagram`: off by default (and in every built-in), inherited through
/// `extends`, and a child that sets it to false turns a parent's opt-in off.
#[test]
fn unix_datagrams_are_opt_in_and_a_child_can_turn_them_off() {
    let d = tmp("dgram");
    let v = vars().with_workdir(&d);
    for name in ["default", "rust", "python", "node"] {
        let p = load(name).unwrap();
        assert_eq!(p.network.allow_unix_datagram, None, "{name}");
        assert!(!p.to_caps(&v).unwrap().allows_unix_datagram(), "{name}");
    }
    write(
        &d,
        "base.json",
        r#"{"extends": "default", "network": {"allow_unix_datagram": true}}"#,
    );
    let inherits = write(&d, "inherits.json", r#"{"extends": "base.json"}"#);
    let p = load(&inherits).unwrap();
    assert_eq!(p.network.allow_unix_datagram, Some(true));
    assert!(p.to_caps(&v).unwrap().allows_unix_datagram());
    let off = write(
        &d,
        "off.json",
        r#"{"extends": "base.json", "network": {"allow_unix_datagram": false}}"#,
    );
    let p = load(&off).unwrap();
    assert!(!p.to_caps(&v).unwrap().allows_unix_datagram());
    let bad = write(
        &d,
        "bad.json",
        r#"{"network": {"allow_unix_datagram": "yes"}}"#,
    );
    assert!(load(&bad).is_err());
}

#[test]
fn extends_cycles_are_errors() {
    let d = tmp("cycle");
    let a = write(&d, "a.json", r#"{"extends": "b.json"}"#);
    write(&d, "b.json", r#"{"extends": "./a.json"}"#);
    let e = load(&a).unwrap_err();
    assert!(matches!(e, ProfileError::Cycle { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("a.json -> ") && msg.contains("b.json"),
        "{msg}"
    );
    let selfish = write(&d, "self.json", r#"{"extends": "self.json"}"#);
    assert!(matches!(load(&selfish), Err(ProfileError::Cycle { .. })));
}

#[test]
fn missing_parent_and_unknown_names_are_errors() {
    let e = load("no-such-profile-xyz").unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("no-such-profile-xyz") && msg.contains("default, rust"),
        "{msg}"
    );
    let d = tmp("missing-parent");
    let a = write(&d, "a.json", r#"{"extends": "./nothere.json"}"#);
    let e = load(&a).unwrap_err();
    assert!(e.to_string().contains("nothere.json"), "{e}");
}

#[test]
fn unknown_field_error_names_file_line_column_and_field() {
    let text =
        "{\n  \"filesystem\": {\n    \"read\": [\"/usr\"],\n    \"alow\": [\"/x\"]\n  }\n}\n";
    let e = parse(text, "my.json").unwrap_err();
    let ProfileError::Parse {
        file,
        line,
        column,
        field,
        message,
    } = &e
    else {
        panic!("{e}")
    };
    assert_eq!(file, "my.json");
    assert_eq!(*line, 4);
    assert!(*column > 4, "{column}");
    assert_eq!(field, "filesystem.alow");
    assert!(message.contains("unknown field `alow`"), "{message}");
    let shown = e.to_string();
    assert!(shown.starts_with("my.json:4:"), "{shown}");
}

#[test]
fn type_errors_name_the_field() {
    let text = "{\"network\": {\"connect\": [443, \"https\"]}}";
    let e = parse(text, "n.json").unwrap_err();
    assert!(
        matches!(&e, ProfileError::Parse { field, line: 1, .. } if field == "network.connect[1]"),
        "{e}"
    );
    let text = "{\"filesystem\": {\"read\": [{\"path\": \"/lib64\", \"optinal\": true}]}}";
    let e = parse(text, "o.json").unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("optinal") && msg.contains("filesystem.read[0]"),
        "{msg}"
    );
    let e = parse(
        "{\"supervisor\": {\"approve\": [{\"path\": \"/x\", \"access\": \"rw\"}]}}",
        "a.json",
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("supervisor.approve[0].access"),
        "{e}"
    );
    let e = parse("{\"name\": \"x\",,}", "s.json").unwrap_err();
    assert!(matches!(e, ProfileError::Parse { line: 1, .. }), "{e}");
    let e = parse("{\"bogus\": 1}", "t.json").unwrap_err();
    assert!(e.to_string().contains("`bogus`"), "{e}");
}

#[test]
fn json_path_locator() {
    let t = r#"{"a": {"b": [1, {"c": "x\"y", "d": [true]}]}}"#;
    let at = |needle: &str| {
        let off = t.find(needle).unwrap() + needle.len();
        json_path_at(t, 1, off)
    };
    assert_eq!(at("[tru"), "a.b[1].d[0]");
    assert_eq!(at(r#""x\"y""#), "a.b[1].c");
    assert_eq!(at("[1"), "a.b[0]");
    assert_eq!(json_path_at("{}", 1, 1), "(top level)");
}

#[test]
fn validation_errors_name_the_field() {
    let bad = |text: &str, field: &str| {
        let mut p = parse(text, "v.json").unwrap();
        p.name = "v".into();
        let e = p.validate().unwrap_err();
        assert!(
            matches!(&e, ProfileError::Invalid { field: f, .. } if f == field),
            "{text}: {e}"
        );
    };
    bad(
        r#"{"groups": {"credentails": false}}"#,
        "groups.credentails",
    );
    bad(
        r#"{"network": {"block": true, "connect": [443]}}"#,
        "network",
    );
    bad(r#"{"network": {"bind": [0]}}"#, "network.bind[0]");
    bad(
        r#"{"filesystem": {"read": ["relative/dir"]}}"#,
        "filesystem.read[0]",
    );
    bad(
        r#"{"filesystem": {"deny": ["/a/**/b"]}}"#,
        "filesystem.deny[0]",
    );
    bad(
        r#"{"environment": {"deny": ["A=B"]}}"#,
        "environment.deny[0]",
    );
    bad(
        r#"{"supervisor": {"allowed_origins": ["https://ok.com", "github.com"]}}"#,
        "supervisor.allowed_origins[1]",
    );
    bad(
        r#"{"supervisor": {"prompt_timeout_secs": 0}}"#,
        "supervisor.prompt_timeout_secs",
    );
    bad(
        r#"{"supervisor": {"rate_limit": {"prompts": 0, "per_secs": 1}}}"#,
        "supervisor.rate_limit",
    );
    bad(
        r#"{"supervisor": {"approve": [{"path": "x/**", "access": "read"}]}}"#,
        "supervisor.approve[0].path",
    );
}

#[test]
fn missing_paths_required_vs_optional() {
    let d = tmp("optional");
    let v = vars().with_workdir(&d);
    let p = parse(
        r#"{"name": "o", "filesystem": {"read": [{"path": "$WORKDIR/nope", "optional": true},
                                                {"path": "$XDG_RUNTIME_DIR/x", "optional": true}]}}"#,
        "o.json",
    )
    .unwrap();
    let mut v2 = v.clone();
    v2.xdg_runtime_dir = None;
    let (caps, skipped) = p.to_caps_with_skipped(&v2).unwrap();
    assert!(caps.grants().is_empty());
    assert_eq!(skipped, [d.join("nope")]);

    let p = parse(
        r#"{"name": "r", "filesystem": {"allow": ["$WORKDIR/nope"]}}"#,
        "r.json",
    )
    .unwrap();
    let e = p.to_caps(&v).unwrap_err();
    assert!(
        matches!(&e, ProfileError::MissingPath { field, path, .. }
            if field == "filesystem.allow[0]" && *path == d.join("nope")),
        "{e}"
    );
    assert!(e.to_string().contains("optional"), "{e}");

    let p = parse(
        r#"{"name": "w", "filesystem": {"allow": ["$WORKDIR/x"]}}"#,
        "w.json",
    )
    .unwrap();
    let e = p.to_caps(&Vars::for_home("/root")).unwrap_err();
    assert!(matches!(e, ProfileError::Var { .. }), "{e}");
}

#[test]
fn deny_patterns_expand_within_a_component() {
    let d = tmp("denyglob");
    std::fs::create_dir_all(d.join("ssh")).unwrap();
    for f in [
        "ssh_host_rsa_key",
        "ssh_host_ed25519_key",
        "ssh_host_rsa_key.pub",
        "sshd_config",
    ] {
        std::fs::write(d.join("ssh").join(f), b"x").unwrap();
    }
    let p = parse(
        r#"{"name": "g", "groups": {"credentials": false, "keyrings": false, "browsers": false, "shell": false, "autorun": false},
            "filesystem": {"read": ["$WORKDIR"], "deny": ["$WORKDIR/ssh/ssh_host_*_key", "$WORKDIR/none/*"]}}"#,
        "g.json",
    )
    .unwrap();
    let v = vars().with_workdir(&d);
    let caps = p.to_caps(&v).unwrap();
    // The `nono` group cannot be switched off; everything else here is the profile's list.
    let denied: Vec<_> = caps
        .denies()
        .iter()
        .filter(|x| x.origin != Origin::Group("nono".into()))
        .map(|x| x.path.clone())
        .collect();
    assert_eq!(
        denied,
        [
            d.join("ssh/ssh_host_ed25519_key"),
            d.join("ssh/ssh_host_rsa_key")
        ]
    );
    let set = p.deny_set(&v).unwrap();
    assert_eq!(
        set.group_of(&d.join("ssh/ssh_host_rsa_key")),
        Some("profile g")
    );
    assert_eq!(set.group_of(&d.join("ssh/ssh_host_rsa_key.pub")), None);
}

#[test]
fn schema_is_json_and_matches_the_parser() {
    let schema: serde_json::Value = serde_json::from_str(schema()).unwrap();
    assert_eq!(schema["additionalProperties"], false);
    // A profile with every field set, serialised, must use exactly the schema's properties.
    let full = Profile {
        schema: Some("s".into()),
        name: "full".into(),
        description: Some("d".into()),
        extends: Some("default".into()),
        deny_groups: [("browsers".to_owned(), false)].into_iter().collect(),
        filesystem: Filesystem {
            allow: vec![PathEntry::required("/a")],
            read: vec![PathEntry {
                path: "/b".into(),
                optional: true,
                create: Some(super::Create::Dir),
            }],
            write: vec![PathEntry::required("/c")],
            deny: vec!["/d".into()],
        },
        network: Network {
            block: Some(false),
            connect: vec![443],
            bind: vec![8080],
            allow_unix_datagram: Some(true),
            allow_domain: vec!["example.com".into()],
            deny_domain: vec!["*.bad.example".into()],
            network_profile: vec!["developer".into()],
            credentials: [(
                "svc".to_owned(),
                CredentialDef {
                    upstream: "https://api.example.com".into(),
                    header: Some("Authorization".into()),
                    format: Some("Bearer {}".into()),
                    source: CredentialSource::Env("EXAMPLE_KEY".into()),
                    base_url_env: "EXAMPLE_BASE_URL".into(),
                    key_env: "EXAMPLE_KEY".into(),
                },
            )]
            .into(),
        },
        environment: Environment {
            inherit: Some(true),
            allow: vec!["A".into()],
            deny: vec!["B_*".into()],
            set: [("C".to_owned(), "v".to_owned())].into(),
        },
        supervisor: SupervisorSettings {
            capability_elevation: Some(true),
            approve: vec![ApproveEntry {
                path: "/e/**".into(),
                access: Access::ReadWrite,
            }],
            allowed_origins: vec!["https://x.com".into()],
            prompt_timeout_secs: Some(3),
            rate_limit: Some(RateLimitSettings {
                prompts: 1,
                per_secs: 2,
            }),
        },
        limits: LimitsSettings {
            memory: Some(SizeSetting::Text("1.5G".into())),
            max_processes: Some(64),
            cpus: Some(serde_json::Number::from_f64(0.5).unwrap()),
        },
        chain: vec![],
        files: vec![],
    };
    let value = serde_json::to_value(&full).unwrap();
    check_against_schema(&schema, &schema, &value, "");
    // And it parses back.
    let back: Profile = serde_json::from_value(value).unwrap();
    assert_eq!(back, full);
    // Built-in group names in the schema match the code.
    let names: Vec<&str> = schema["properties"]["groups"]["propertyNames"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(names, deny_groups::group_names());
}

#[test]
fn limits_parse_merge_and_refuse_bad_values() {
    let parse = |text: &str| -> Result<Profile, ProfileError> {
        let p: Profile = serde_json::from_str(text).unwrap();
        p.validate().map(|()| p)
    };
    let p = parse(r#"{"limits": {"memory": "1.5GiB", "max_processes": 50, "cpus": 0.5}}"#).unwrap();
    let l = p.limits();
    assert_eq!(l.memory, Some(3 << 29));
    assert_eq!(l.max_processes, Some(50));
    assert_eq!(l.cpus, Some(0.5));
    let p = parse(r#"{"limits": {"memory": 67108864, "cpus": 2}}"#).unwrap();
    assert_eq!(p.limits().memory, Some(64 << 20));
    assert_eq!(p.limits().cpus, Some(2.0));
    for (bad, field) in [
        (r#"{"limits": {"memory": "lots"}}"#, "limits.memory"),
        (
            r#"{"limits": {"max_processes": 0}}"#,
            "limits.max_processes",
        ),
        (r#"{"limits": {"cpus": 0}}"#, "limits.cpus"),
    ] {
        let err = parse(bad).unwrap_err().to_string();
        assert!(err.contains(field), "{err}");
    }
    let parent: Profile =
        serde_json::from_str(r#"{"limits": {"memory": "1G", "cpus": 1}}"#).unwrap();
    let child: Profile = serde_json::from_str(r#"{"limits": {"memory": "2G"}}"#).unwrap();
    let merged = merge(parent, child).limits();
    assert_eq!((merged.memory, merged.cpus), (Some(2 << 30), Some(1.0)));
}

/// Follow `$ref`s; for `oneOf` pick the branch of the value's JSON type.
fn resolve_schema<'a>(
    root: &'a serde_json::Value,
    mut s: &'a serde_json::Value,
    value: &serde_json::Value,
) -> &'a serde_json::Value {
    loop {
        if let Some(r) = s.get("$ref").and_then(|r| r.as_str()) {
            let name = r.strip_prefix("#/$defs/").expect("local ref");
            s = &root["$defs"][name];
        } else if let Some(branches) = s.get("oneOf").and_then(|b| b.as_array()) {
            let want = if value.is_object() {
                "object"
            } else {
                "string"
            };
            s = branches
                .iter()
                .find(|b| {
                    let b = resolve_schema(root, b, value);
                    b["type"] == want
                })
                .expect("a oneOf branch for the value's type");
        } else {
            return s;
        }
    }
}

fn check_against_schema(
    root: &serde_json::Value,
    s: &serde_json::Value,
    v: &serde_json::Value,
    at: &str,
) {
    let s = resolve_schema(root, s, v);
    match v {
        serde_json::Value::Object(map) => {
            assert_eq!(s["type"], "object", "{at}: schema type");
            if let Some(props) = s.get("properties").and_then(|p| p.as_object()) {
                assert_eq!(s["additionalProperties"], false, "{at}: closed object");
                let mut have: Vec<&String> = map.keys().collect();
                // `why` on a path entry is documentation: read, checked for type, and dropped.
                let mut want: Vec<&String> = props.keys().filter(|k| *k != "why").collect();
                have.sort();
                want.sort();
                assert_eq!(have, want, "{at}: fields in code vs schema");
                for (k, child) in map {
                    check_against_schema(root, &props[k], child, &format!("{at}.{k}"));
                }
            } else {
                // A map (groups): values follow additionalProperties.
                for (k, child) in map {
                    check_against_schema(
                        root,
                        &s["additionalProperties"],
                        child,
                        &format!("{at}.{k}"),
                    );
                }
            }
        }
        serde_json::Value::Array(items) => {
            assert_eq!(s["type"], "array", "{at}");
            for (i, item) in items.iter().enumerate() {
                check_against_schema(root, &s["items"], item, &format!("{at}[{i}]"));
            }
        }
        serde_json::Value::String(_) => {
            assert!(
                s["type"] == "string" || s.get("enum").is_some(),
                "{at}: {s}"
            );
        }
        serde_json::Value::Bool(_) => assert_eq!(s["type"], "boolean", "{at}"),
        serde_json::Value::Number(n) => assert!(
            s["type"] == "integer" || (s["type"] == "number" && n.is_f64()),
            "{at}: {s}"
        ),
        serde_json::Value::Null => panic!("{at}: null is never written"),
    }
}

/// A key repeated in one object is an error naming the key, the file and the line, in every
/// object of a profile (`groups`, `filesystem`, the top level, approve rules), not only where
/// serde would notice (a map such as `groups` keeps the last value silently).
#[test]
fn duplicate_keys_are_an_error_everywhere() {
    for (text, key, line) in [
        (
            "{\n  \"groups\": {\n    \"credentials\": true,\n    \"credentials\": false\n  }\n}\n",
            "credentials",
            4,
        ),
        ("{\"name\": \"a\",\n\"name\": \"b\"}", "name", 2),
        (
            "{\"filesystem\": {\"read\": [\"/usr\"],\n \"read\": [\"/\"]}}",
            "read",
            2,
        ),
        (
            "{\"supervisor\": {\"approve\": [{\"path\": \"/x\",\n\n \"path\": \"/\"}]}}",
            "path",
            3,
        ),
        (
            "{\"network\": {\"block\": true, \"block\": false}}",
            "block",
            1,
        ),
    ] {
        let e = parse(text, "dup.json").unwrap_err();
        let ProfileError::Parse {
            file,
            line: got_line,
            message,
            ..
        } = &e
        else {
            panic!("{e}")
        };
        assert_eq!(file, "dup.json");
        assert_eq!(*got_line, line, "{e}");
        assert!(message.contains(&format!("duplicate key `{key}`")), "{e}");
        assert!(
            e.to_string().starts_with(&format!("dup.json:{line}:")),
            "{e}"
        );
    }
    // The same key in two different objects is fine.
    parse(
        "{\"filesystem\": {\"read\": [\"/usr\"]}, \"supervisor\": {\"approve\": [{\"path\": \"/x\", \"access\": \"read\"}, {\"path\": \"/y\", \"access\": \"read\"}]}}",
        "ok.json",
    )
    .unwrap();
}

/// Every built-in profile is free of duplicate keys (they go through the same parser).
#[test]
fn builtins_have_no_duplicate_keys() {
    for name in crate::profile::list() {
        let text = crate::profile::builtin_source(name).unwrap();
        parse(text, name).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

/// nono's own configuration and state cannot be switched off by a profile (issue 16
/// finding 4): `"nono": false` is refused by validation, and is on even when not validated.
#[test]
fn the_nono_group_cannot_be_switched_off() {
    let p = parse(r#"{"name": "off", "groups": {"nono": false}}"#, "off.json").unwrap();
    let e = p.validate().unwrap_err();
    assert!(
        e.to_string().contains("groups.nono") && e.to_string().contains("cannot be switched off"),
        "{e}"
    );
    assert!(p.enabled_groups().contains(&"nono"));
    let v = vars();
    let set = p.deny_set(&v).unwrap();
    assert_eq!(
        set.group_of(&v.home.join(".config/nono/profiles/work.json")),
        Some("nono")
    );
    // Other groups can still be switched off.
    let p = parse(
        r#"{"name": "ok", "groups": {"autorun": false, "nono": true}}"#,
        "ok.json",
    )
    .unwrap();
    p.validate().unwrap();
    assert!(!p.enabled_groups().contains(&"autorun"));
}

/// A path entry may carry a `why` (for readers and the generated guide); a non-string one is
/// an error, like any other field of the wrong type.
#[test]
fn a_path_entry_may_say_why() {
    let p = parse(
        r#"{"name": "w", "filesystem": {"read": [{"path": "/usr", "optional": true, "why": "system"}]}}"#,
        "w.json",
    )
    .unwrap();
    assert_eq!(p.filesystem.read[0].path, "/usr");
    assert!(parse(
        r#"{"name": "w", "filesystem": {"read": [{"path": "/usr", "why": 3}]}}"#,
        "w.json"
    )
    .is_err());
}
