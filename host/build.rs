//! Builds the plugins of `plugins/` for `wasm32-wasip2`, so the service, its
//! tests and benchmarks always run against freshly built components (as
//! wasmtime's test-programs do). They land in `target/plugins/` at the
//! repository root, where the example site configs point, and the host is
//! told their directory through `USERAPI_PLUGIN_DIR`.

use std::path::PathBuf;
use std::process::Command;

/// Every guest crate of the workspace.
const PLUGINS: &[&str] =
    &["profile-validator", "visibility-policy", "partner-report", "plugin-template", "misbehaving", "future-version"];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest_dir.parent().expect("host/ lives in the repository root").to_path_buf();
    let target_dir = root.join("target").join("plugins");
    println!("cargo:rerun-if-changed=../plugins");
    println!("cargo:rerun-if-changed=../wit");
    // sqlx::migrate! embeds the migrations: a new one must rebuild the host.
    println!("cargo:rerun-if-changed=../migrations");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(&root)
        .args(["build", "--release", "--target", "wasm32-wasip2", "--target-dir"])
        .arg(&target_dir);
    for plugin in PLUGINS {
        command.args(["-p", plugin]);
    }
    // Settings meant for the host build (clippy's wrapper, host rustflags)
    // must not leak into the guest build.
    for var in
        ["RUSTC_WORKSPACE_WRAPPER", "CARGO_ENCODED_RUSTFLAGS", "RUSTFLAGS", "CARGO_TARGET_DIR", "CARGO_BUILD_TARGET"]
    {
        command.env_remove(var);
    }
    let output = command.output().expect("cannot run cargo to build the plugins");
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let hint = if stderr.contains("wasm32-wasip2") && stderr.contains("target may not be installed") {
            "\nhint: run `rustup target add wasm32-wasip2` (the README's commands do it)"
        } else {
            ""
        };
        panic!("building the plugins for wasm32-wasip2 failed:\n{stderr}{hint}");
    }
    let out = target_dir.join("wasm32-wasip2").join("release");
    println!("cargo:rustc-env=USERAPI_PLUGIN_DIR={}", out.display());
}
