//! The same HTTP requests against a site without plugins and a site of the
//! same tenant with the example validator and visibility policy: what a
//! plugin adds to a real request. Starts the release-built `userapi serve`
//! on SQLite. `cargo bench -p userapi --bench http_plugins`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;

const SECRET: &str = "bench-secret-0123456789abcdef";

struct Server {
    child: Child,
    base: String,
    env: Vec<(&'static str, String)>,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn site(id: &str, plugins: serde_json::Value) -> serde_json::Value {
    let plugin_dir = env!("USERAPI_PLUGIN_DIR");
    let mut plugins = plugins;
    for slot in ["extended_profile_validator", "visibility_policy"] {
        if let Some(p) = plugins.get_mut(slot) {
            p["path"] = json!(format!("{plugin_dir}/{}", p["path"].as_str().unwrap_or_default()));
        }
    }
    json!({
        "site": id, "domains": [format!("{id}.bench")], "tenant": "bench",
        "jwt": {"issuer": "https://bench/oauth2", "secret_keys": [SECRET]},
        "extended_profile_fields": ["employer", "favorite_color"],
        "plugins": plugins,
    })
}

fn start() -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let sites = dir.path().join("sites");
    std::fs::create_dir_all(&sites).expect("sites dir");
    let plugged = json!({
        "extended_profile_validator": {"path": "profile_validator.wasm", "config": {"fields": [
            {"name": "employer", "type": "text", "max_length": 100},
            {"name": "favorite_color", "type": "choice", "choices": ["red", "green", "blue"]}
        ]}},
        "visibility_policy": {"path": "visibility_policy.wasm", "config": {"same_org_fields": ["name"]}}
    });
    std::fs::write(sites.join("plain.json"), site("plain", json!({})).to_string()).expect("write site");
    std::fs::write(sites.join("plugged.json"), site("plugged", plugged).to_string()).expect("write site");
    let env = vec![
        ("USERAPI_DATABASE_URL", format!("sqlite://{}", dir.path().join("bench.db").display())),
        ("USERAPI_SITES_DIR", sites.display().to_string()),
        ("USERAPI_LOG", "json".to_owned()),
        ("RUST_LOG", "error".to_owned()),
    ];
    let mut child = Command::new(env!("CARGO_BIN_EXE_userapi"))
        .arg("serve")
        .env("USERAPI_BIND", "127.0.0.1:0")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start userapi");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("listening line");
    let base = line.trim().strip_prefix("listening on ").expect("listening line").to_owned();
    Server { child, base, env, _dir: dir }
}

impl Server {
    fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_userapi"))
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("run userapi");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

fn http(c: &mut Criterion) {
    let server = start();
    for user in ["owner", "reader"] {
        server.cli(&[
            "users",
            "create",
            "--site",
            "plain",
            "--username",
            user,
            "--email",
            &format!("{user}@example.com"),
        ]);
        server.cli(&["orgs", "add", "--site", "plain", "--username", user, "--org", "MITx"]);
    }
    let owner = server.cli(&["tokens", "issue", "--site", "plain", "--username", "owner"]);
    let reader = server.cli(&["tokens", "issue", "--site", "plain", "--username", "reader"]);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let client = reqwest::Client::new();
    let patch = |host: &str, body: serde_json::Value| {
        client
            .patch(format!("{}/api/user/v1/accounts/owner", server.base))
            .header("host", host)
            .header("authorization", format!("JWT {owner}"))
            .header("content-type", "application/merge-patch+json")
            .body(body.to_string())
    };
    let setup =
        runtime.block_on(patch("plain.bench", json!({"year_of_birth": 1990, "account_privacy": "custom"})).send());
    assert!(setup.expect("send").status().is_success());

    let mut group = c.benchmark_group("http");
    for host in ["plain.bench", "plugged.bench"] {
        let get = || {
            client
                .get(format!("{}/api/user/v1/accounts/owner", server.base))
                .header("host", host)
                .header("authorization", format!("JWT {reader}"))
        };
        group.bench_function(format!("GET another's account ({host})"), |b| {
            b.iter(|| {
                let r = runtime.block_on(get().send()).expect("send");
                assert!(r.status().is_success());
                runtime.block_on(r.bytes()).expect("body")
            })
        });
        let body = json!({"extended_profile": [
            {"field_name": "employer", "field_value": " ACME "},
            {"field_name": "favorite_color", "field_value": "Red"}
        ]});
        group.bench_function(format!("PATCH extended_profile ({host})"), |b| {
            b.iter(|| {
                let r = runtime.block_on(patch(host, body.clone()).send()).expect("send");
                assert!(r.status().is_success());
                runtime.block_on(r.bytes()).expect("body")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, http);
criterion_main!(benches);
