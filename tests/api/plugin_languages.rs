//! The Python and JavaScript example plugins (`plugins/python-validator`,
//! `plugins/js-validator`), built with their own toolchains
//! (componentize-py from PyPI, componentize-js from npm), pass `plugin check`
//! and their fixtures, and validate real PATCHes. `scripts/test.sh` installs
//! the toolchains; without one the test says it skipped and why, unless
//! `USERAPI_REQUIRE_PLUGIN_TOOLCHAINS=1` (set by CI) makes that a failure.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::*;

/// An example: its folder, the tool its build script runs, and the variable
/// that may name that tool.
struct Example {
    dir: &'static str,
    tool: &'static str,
    tool_var: Option<&'static str>,
}

const PYTHON: Example = Example { dir: "python-validator", tool: "componentize-py", tool_var: None };
const JAVASCRIPT: Example = Example { dir: "js-validator", tool: "componentize-js", tool_var: Some("COMPONENTIZE_JS") };

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn on_path(tool: &str) -> bool {
    Command::new("sh").args(["-c", &format!("command -v {tool}")]).output().is_ok_and(|o| o.status.success())
}

/// Builds the example once per test process: the component's path, or why
/// it was skipped.
fn build(example: &Example) -> Result<PathBuf, String> {
    let tool_given = example.tool_var.and_then(std::env::var_os).is_some_and(|v| Path::new(&v).exists());
    if !tool_given && !on_path(example.tool) {
        return Err(format!("{} is not installed (scripts/test.sh installs it)", example.tool));
    }
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{}.wasm", example.dir));
    let script = repo().join("plugins").join(example.dir).join("build.sh");
    let built = Command::new(&script).arg(&out).output().expect("run the build script");
    assert!(
        built.status.success(),
        "{} failed:\n{}{}",
        script.display(),
        String::from_utf8_lossy(&built.stdout),
        String::from_utf8_lossy(&built.stderr)
    );
    Ok(out)
}

fn component(example: &'static Example) -> Option<PathBuf> {
    static PY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    static JS: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let cell = if example.dir == PYTHON.dir { &PY } else { &JS };
    match cell.get_or_init(|| build(example)) {
        Ok(path) => Some(path.clone()),
        Err(why) => {
            let required = std::env::var("USERAPI_REQUIRE_PLUGIN_TOOLCHAINS").is_ok_and(|v| v == "1");
            assert!(!required, "{}: {why}", example.dir);
            eprintln!("skipped: the {} example: {why}", example.dir);
            None
        }
    }
}

fn userapi(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_userapi")).args(args).env("RUST_LOG", "warn").output().expect("run userapi")
}

/// `plugin check` and the example's fixtures, then a site using it: a PATCH
/// it normalises and one it refuses, which changes nothing.
async fn check_and_patch(b: Backend, example: &'static Example) {
    let Some(wasm) = tokio::task::spawn_blocking(move || component(example)).await.unwrap() else { return };
    let path = wasm.to_str().unwrap().to_owned();
    let out = userapi(&["plugin", "check", &path]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("implements userapi:plugins/extended-profile-validator@0.1.0"), "{text}");
    let fixtures = repo().join("plugins").join(example.dir).join("fixtures");
    let out = userapi(&["plugin", "run", &path, "--world", "validator", "--fixtures", fixtures.to_str().unwrap()]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && table.contains("2 passed, 0 failed"), "{table}");

    let mut config = site("alpha", "alpha", ALPHA_SECRET);
    config["extended_profile_fields"] = json!(["employer"]);
    config["plugins"] = json!({"extended_profile_validator": {
        "path": path, "config": {"fields": ["employer"], "max_length": 10},
        // What these runtimes need (plugins/README.md): more memory and time than Rust.
        "limits": {"memory_mib": 64, "timeout_ms": 2000},
    }});
    let s = TestServer::start_with(b, vec![("alpha.json".into(), config)], &[]).await;
    s.create_user("alpha", "jdoe", &[]).await;
    let t = s.token("alpha", "jdoe").await;
    let ext = |v: &str| json!({"extended_profile": [{"field_name": "employer", "field_value": v}]});
    let ok = s.patch_account("alpha.test", "jdoe", &t, ext("  ACME  ")).await;
    assert_eq!(ok.status(), StatusCode::OK, "{}", ok.text().await.unwrap());
    let account: Value = body_json(ok).await;
    assert_eq!(account["extended_profile"], json!([{"field_name": "employer", "field_value": "ACME"}]));
    let refused = s.patch_account("alpha.test", "jdoe", &t, ext("A very long employer")).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let error = body_json(refused).await;
    assert_eq!(error["field_errors"]["employer"]["user_message"], "Use at most 10 characters.", "{error}");
    let now = body_json(s.get_account("alpha.test", "jdoe", &t).await).await;
    assert_eq!(now["extended_profile"][0]["field_value"], "ACME", "the refused PATCH changed nothing");
}

async fn python_example_validates_real_patches(b: Backend) {
    check_and_patch(b, &PYTHON).await;
}

async fn javascript_example_validates_real_patches(b: Backend) {
    check_and_patch(b, &JAVASCRIPT).await;
}

backend_tests!(python_example_validates_real_patches, javascript_example_validates_real_patches);
