//! `userapi plugin check FILE.wasm`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use serde_json::{json, Value};

use crate::plugins::check::check_file;
use crate::plugins::runner;
use crate::plugins::wit;

/// `userapi plugin run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The component file (.wasm).
    pub file: PathBuf,
    /// Which world to call: validator, visibility or formatter.
    #[arg(long)]
    pub world: String,
    /// The call's input (JSON; its shape per world is in plugins/README.md).
    #[arg(long, conflicts_with = "fixtures", required_unless_present = "fixtures")]
    pub input: Option<PathBuf>,
    /// The plugin's `config` (JSON; default {}).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The `limits` of the site config (JSON; default: the host's defaults).
    #[arg(long)]
    pub limits: Option<PathBuf>,
    /// Run every *.json fixture of this folder instead.
    #[arg(long)]
    pub fixtures: Option<PathBuf>,
}

fn read_json(path: Option<&Path>, default: Value) -> anyhow::Result<Value> {
    match path {
        None => Ok(default),
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
        }
    }
}

/// Runs one call, or a folder of fixtures.
pub fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let slot = runner::slot_of(&args.world)
        .ok_or_else(|| anyhow::anyhow!("--world {:?}: expected validator, visibility or formatter", args.world))?;
    let config = read_json(args.config.as_deref(), json!({}))?;
    let limits = read_json(args.limits.as_deref(), json!({}))?;
    if let Some(dir) = &args.fixtures {
        let results = runner::run_fixtures(&args.file, slot, dir, &config, &limits).map_err(anyhow::Error::msg)?;
        println!("{:<32} {:<6} {:>14} {:>12} {:>9}  reason", "fixture", "result", "fuel", "memory", "ms");
        for r in &results {
            let (fuel, memory, ms) = r.report.as_ref().map_or((0, 0, 0.0), |report| {
                (report.stats.fuel_used, report.stats.peak_memory_bytes, report.stats.wall.as_secs_f64() * 1000.0)
            });
            let verdict = if r.passed { "pass" } else { "FAIL" };
            println!("{:<32} {verdict:<6} {fuel:>14} {memory:>12} {ms:>9.2}  {}", r.name, r.reason);
        }
        let failed = results.iter().filter(|r| !r.passed).count();
        println!("{} passed, {failed} failed", results.len() - failed);
        return Ok(if failed == 0 && !results.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE });
    }
    let input = read_json(args.input.as_deref(), Value::Null)?;
    let report = runner::run(&args.file, slot, &input, &config, &limits);
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(if report.ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Prints the WIT package, or writes its files into `out`.
pub fn wit(out: Option<&Path>) -> anyhow::Result<ExitCode> {
    let Some(dir) = out else {
        print!("{}", wit::latest_single_file());
        return Ok(ExitCode::SUCCESS);
    };
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (name, text) in wit::LATEST_FILES {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints which worlds the component implements; exit 1 if none.
pub fn check(file: &Path) -> ExitCode {
    match check_file(file) {
        Ok(report) => {
            print!("{}", report.render(file));
            if report.is_plugin() {
                ExitCode::SUCCESS
            } else {
                println!("not a userapi plugin: it implements none of the worlds above");
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            println!("not a userapi plugin: {e}");
            ExitCode::FAILURE
        }
    }
}
