//! A deliberately bad plugin for the host's failure tests. It exports all
//! three interfaces; its `config` picks the misbehaviour:
//! `{"mode": "ok" | "loop" | "hog" | "panic" | "flood" | "garbage" | "add-field" | "counter" | "log" | "ambient" | "describe-loop",
//!   "only_org": "..."}` (`only_org`: misbehave for that org's report only).
//! Never deploy it.

wit_bindgen::generate!({
    path: "../../../wit/v0.1.0",
    world: "all-plugins",
});

use std::sync::atomic::{AtomicU64, Ordering};

use exports::userapi::plugins::formatter::ReportRequest;
use exports::userapi::plugins::validator::ValidationRequest;
use exports::userapi::plugins::visibility::VisibilityRequest;
use exports::userapi::plugins::{formatter, validator, visibility};
use userapi::plugins::log::{write, Level};
use userapi::plugins::types::{Field, FieldDescription, FieldError, ReportFile};

/// Survives between calls only if the host reuses an instance (it must not).
static CALLS: AtomicU64 = AtomicU64::new(0);

fn mode(config: &str) -> String {
    serde_json::from_str::<serde_json::Value>(config)
        .ok()
        .and_then(|c| c.get("mode").and_then(|m| m.as_str()).map(str::to_owned))
        .unwrap_or_else(|| "ok".into())
}

/// Runs the misbehaviours every export shares; returns the mode otherwise.
fn misbehave(config: &str) -> String {
    let mode = mode(config);
    match mode.as_str() {
        "loop" => {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        "hog" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 1 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        "panic" => panic!("deliberate panic"),
        // 2 MiB on each of stdout and stderr, then an ordinary answer.
        "flood" => {
            let line = "x".repeat(64 * 1024 - 1);
            for _ in 0..32 {
                println!("{line}");
                eprintln!("{line}");
            }
        }
        "log" => write(Level::Warn, "hello from the misbehaving plugin"),
        _ => {}
    }
    mode
}

/// What the plugin can see of its surroundings: the clock, the environment,
/// the filesystem (the host grants none of them).
fn ambient() -> String {
    let clock = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let env = std::env::vars().count();
    let root = std::fs::read_dir("/").is_ok();
    format!(r#"{{"clock_secs": {clock}, "env_vars": {env}, "root_readable": {root}}}"#)
}

struct Bad;

impl validator::Guest for Bad {
    fn validate(request: ValidationRequest) -> Result<Vec<Field>, Vec<FieldError>> {
        match misbehave(&request.config).as_str() {
            "garbage" => Ok(vec![Field { name: "employer".into(), value: "{not json".into() }]),
            "add-field" => {
                let mut fields = request.submitted;
                fields.push(Field { name: "is_staff".into(), value: "true".into() });
                Ok(fields)
            }
            "counter" => {
                let calls = CALLS.fetch_add(1, Ordering::SeqCst) + 1;
                Ok(vec![Field { name: "calls".into(), value: calls.to_string() }])
            }
            "ambient" => Ok(vec![Field { name: "ambient".into(), value: ambient() }]),
            _ => Ok(request.submitted),
        }
    }

    fn describe(config: String) -> Vec<FieldDescription> {
        // "describe-loop": spin in describe, which the host calls at load.
        if mode(&config) == "describe-loop" {
            misbehave(r#"{"mode": "loop"}"#);
        }
        Vec::new()
    }
}

impl visibility::Guest for Bad {
    fn visible_fields(request: VisibilityRequest) -> Vec<String> {
        match misbehave(&request.config).as_str() {
            "garbage" => vec!["email".into(), "password".into(), "no_such_field".into()],
            "counter" => {
                let calls = CALLS.fetch_add(1, Ordering::SeqCst) + 1;
                if calls == 1 {
                    request.custom_shareable_fields
                } else {
                    Vec::new()
                }
            }
            _ => request.custom_shareable_fields,
        }
    }
}

impl formatter::Guest for Bad {
    fn format_report(request: ReportRequest) -> Result<ReportFile, String> {
        let only = serde_json::from_str::<serde_json::Value>(&request.config)
            .ok()
            .and_then(|c| c.get("only_org").and_then(|o| o.as_str()).map(str::to_owned));
        let mode = if only.is_none_or(|o| o == request.org) { misbehave(&request.config) } else { "ok".into() };
        match mode.as_str() {
            "garbage" => Ok(ReportFile {
                file_name: "../../etc/passwd".into(),
                content_type: "text/plain".into(),
                bytes: b"x".to_vec(),
            }),
            _ => Ok(ReportFile {
                file_name: format!("{}.txt", request.org),
                content_type: "text/plain".into(),
                bytes: format!("{} rows\n", request.rows.len()).into_bytes(),
            }),
        }
    }
}

export!(Bad);
