//! `nono setup` and `nono profile list|show|validate|schema`.

use crate::harness::{nono, Scratch};

#[test]
fn setup_reports_kernel_support() {
    let s = Scratch::new("setup");
    let out = nono(&s.path, ["setup"]);
    out.expect_code(0)
        .stdout_has("kernel:")
        .stdout_has("landlock: ABI")
        .stdout_has("seccomp")
        .stdout_has("ia32")
        .stdout_has("with the default profile")
        .stdout_has("enforced     filesystem");
    let out = nono(&s.path, ["setup", "--json"]);
    out.expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert!(
        v["support"]["landlock"]["abi"].as_u64().unwrap() >= 1,
        "{v}"
    );
    assert_eq!(v["enforceable"], true);
    assert!(
        v["default_profile"]["enforcement"]["enforced"].is_array(),
        "{v}"
    );
}

#[test]
fn profile_list_show_schema() {
    let s = Scratch::new("profile");
    nono(&s.path, ["profile", "list"])
        .expect_code(0)
        .stdout_has("default");
    let out = nono(&s.path, ["profile", "show", "default"]);
    out.expect_code(0);
    let _: serde_json::Value = serde_json::from_str(&out.stdout).expect("show prints JSON");
    let out = nono(&s.path, ["profile", "schema"]);
    out.expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("schema is JSON");
    assert!(v.get("$schema").is_some() || v.get("type").is_some(), "{v}");
    nono(&s.path, ["profile", "show", "no-such-profile"])
        .expect_code(125)
        .stderr_has("no-such-profile");
}

#[test]
fn profile_validate() {
    let s = Scratch::new("profile-validate");
    let good = s.write("good.json", r#"{"extends": "default"}"#);
    nono(
        &s.path,
        ["profile", "validate", &good.display().to_string()],
    )
    .expect_code(0)
    .stdout_has("good.json");
    let bad = s.write("bad.json", r#"{"extends": "default", "filesystem": 7}"#);
    let out = nono(&s.path, ["profile", "validate", &bad.display().to_string()]);
    out.expect_code(1).stderr_has("bad.json");
    let broken = s.write("broken.json", "{");
    nono(
        &s.path,
        ["profile", "validate", &broken.display().to_string()],
    )
    .expect_code(1)
    .stderr_has("broken.json");
    nono(&s.path, ["profile", "validate", "/nonexistent/p.json"])
        .expect_code(1)
        .stderr_has("/nonexistent/p.json");
}
