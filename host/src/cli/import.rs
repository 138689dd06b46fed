//! `userapi import openedx`: migration from a live Open edX LMS.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use super::{find_site, load_sites, open_db, CommonArgs};
use crate::import::{self, Options, Progress, Report};

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import an Open edX LMS's users, profiles, preferences, org tags,
    /// pending changes and retirement rows from its MySQL database.
    ///
    /// Learners are matched by their LMS id (kept as the account's id when
    /// it is free, and always as its lms_user_id), so running it again
    /// updates what changed and duplicates nothing; an interrupted run can
    /// simply be started again. Each batch is one transaction. A username
    /// or e-mail that another account of the tenant holds is reported and
    /// skipped; rows with bad data are reported and the rest imported. The
    /// run ends with a table of rows read, imported, updated, unchanged,
    /// refused and conflicting per LMS table; it exits 1 if any row was
    /// refused or conflicting.
    ///
    /// Passwords: pbkdf2_sha256 and pbkdf2_sha1 hashes are kept (and rehashed
    /// to argon2id at the next login), argon2 ones taken over, unusable ones
    /// stay unusable; other schemes (bcrypt, md5, sha1, …) become unusable,
    /// counted in the report, and those learners reset their password.
    Openedx(OpenedxArgs),
}

#[derive(Debug, Args)]
pub struct OpenedxArgs {
    /// The LMS database: mysql://USER:PASS@HOST:PORT/DB (MySQL or MariaDB).
    #[arg(long = "from", env = "USERAPI_IMPORT_FROM", hide_env_values = true)]
    from: String,
    /// The site (id or domain) whose tenant receives the learners.
    #[arg(long)]
    site: String,
    /// Read, check and compare everything; write nothing; print the same report.
    #[arg(long)]
    dry_run: bool,
    /// Learners per batch (one transaction each).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    batch_size: u32,
    /// Only learners who joined or logged in after this time (UTC), or whose
    /// org tags or retirement rows changed after it: YYYY-MM-DD,
    /// "YYYY-MM-DD HH:MM:SS" or RFC 3339. The LMS keeps no modification
    /// time for profiles or preferences; a learner who changed them has
    /// logged in since, which this catches.
    #[arg(long)]
    since: Option<String>,
    /// Also print the report as JSON on stdout (the table goes to stderr).
    #[arg(long)]
    json: bool,
}

/// A progress bar on a terminal; a log line per 10 s otherwise.
struct Shown {
    bar: Option<ProgressBar>,
    started: Instant,
    last_line: std::sync::Mutex<Instant>,
}

impl Progress for Shown {
    fn start(&self, total: u64) {
        match &self.bar {
            Some(bar) => bar.set_length(total),
            None => tracing::info!(learners = total, "import started"),
        }
    }

    fn advance(&self, so_far: &Report) {
        let learners = so_far.learners();
        match &self.bar {
            Some(bar) => bar.set_position(learners),
            None => {
                let mut last = self.last_line.lock().unwrap_or_else(|p| p.into_inner());
                if last.elapsed() >= Duration::from_secs(10) {
                    *last = Instant::now();
                    tracing::info!(learners, elapsed_s = self.started.elapsed().as_secs(), "import progress");
                }
            }
        }
    }
}

/// Runs `userapi import openedx`.
pub async fn run(common: &CommonArgs, command: ImportCommand) -> anyhow::Result<ExitCode> {
    let ImportCommand::Openedx(args) = command;
    let registry = load_sites(common)?;
    let site = find_site(&registry, &args.site)?;
    let db = open_db(common).await?;
    crate::retirement::states::sync(&db, &registry.current()).await.context("cannot apply the retirement states")?;
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} learners  {per_sec}  eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    });
    let shown = Shown { bar, started: Instant::now(), last_line: std::sync::Mutex::new(Instant::now()) };
    let options = Options { batch_size: args.batch_size, dry_run: args.dry_run, since: args.since };
    let outcome = import::run(&db, &site, &args.from, &options, &shown).await;
    if let Some(bar) = &shown.bar {
        bar.finish_and_clear();
    }
    db.close().await;
    let report = outcome.context("the import stopped")?;
    let seconds = shown.started.elapsed().as_secs_f64();
    eprint!("{}", report.render());
    eprintln!(
        "\n{} learners in {seconds:.1} s ({:.0} per second)",
        report.learners(),
        report.learners() as f64 / seconds.max(0.001)
    );
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    let clean = report.refusals.is_empty() && report.conflicts.is_empty();
    Ok(if clean { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
