//! `userapi import openedx`: an Open edX LMS's learners, profiles,
//! preferences, org tags, pending changes and retirement rows, read from
//! its MySQL database and written into one tenant.
//!
//! The LMS is read in batches of learners in id order ([`source`]) by a
//! task of its own, one batch ahead of the writer; each batch is judged
//! ([`checks`]) and written in one transaction ([`sink`]), comparing every
//! row with what is stored, so a run can be repeated or resumed and
//! changes only what changed. [`report`] counts what happened per table.

pub mod checks;
pub mod report;
mod sink;
pub mod source;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use crate::retirement::status as retirement_status;
use crate::sites::Site;
use crate::store::{Db, StoreError};
use checks::Rules;
pub use report::Report;
use source::{Learner, LmsSource, Selection};

/// Why an import stopped.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read the LMS database: {0}")]
    Source(String),
    #[error("cannot write the userapi database: {0}")]
    Store(#[from] StoreError),
    #[error("--since {0:?} is not a time: give YYYY-MM-DD, YYYY-MM-DD HH:MM:SS (UTC) or RFC 3339")]
    Since(String),
}

/// How a run goes.
#[derive(Debug, Clone)]
pub struct Options {
    /// Learners per batch (and per transaction).
    pub batch_size: u32,
    /// Judge and compare everything, write nothing.
    pub dry_run: bool,
    /// `--since`, as given.
    pub since: Option<String>,
}

/// Hears how far a run has come.
pub trait Progress: Send + Sync {
    /// The run will read `total` learners.
    fn start(&self, total: u64);
    /// A batch was written; `so_far` is the run's report until now.
    fn advance(&self, so_far: &Report);
}

/// `--since` as the LMS compares it: `YYYY-MM-DD HH:MM:SS.ffffff`, UTC.
pub fn parse_since(raw: &str) -> Result<String, ImportError> {
    let text = raw.trim();
    let utc: Option<NaiveDateTime> = DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc).naive_utc())
        .ok()
        .or_else(|| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").ok())
        .or_else(|| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").ok())
        .or_else(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)));
    utc.map(|t| t.format("%Y-%m-%d %H:%M:%S%.6f").to_string()).ok_or_else(|| ImportError::Since(raw.to_owned()))
}

/// A batch's transaction ended without committing.
enum BatchError {
    Store(StoreError),
    /// `--dry-run`: rolled back on purpose, with what it would have done.
    DryRun(Box<Report>),
}

impl From<StoreError> for BatchError {
    fn from(e: StoreError) -> Self {
        BatchError::Store(e)
    }
}

/// Imports the LMS at `from` into `site`'s tenant. The tenant's retirement
/// states must be in the database already (the caller syncs them).
pub async fn run(
    db: &Db,
    site: &Site,
    from: &str,
    options: &Options,
    progress: &dyn Progress,
) -> Result<Report, ImportError> {
    let since = options.since.as_deref().map(parse_since).transpose()?;
    let mut source = LmsSource::connect(from, Selection { since }).await?;
    progress.start(source.count().await?);
    let tenant = site.tenant.clone();
    let states: Vec<retirement_status::State> = {
        let tenant = tenant.clone();
        db.read(move |c| Box::pin(async move { retirement_status::states(c, &tenant).await })).await?
    };
    let state_ids: HashMap<String, i64> = states.into_iter().map(|s| (s.name, s.id)).collect();
    let rules = Arc::new(Rules {
        bio_max_length: site.config.bio_max_length,
        states: state_ids.keys().cloned().collect::<HashSet<_>>(),
    });
    let state_ids = Arc::new(state_ids);

    // The reader runs one batch ahead of the writer.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Vec<Learner>, ImportError>>(1);
    let size = options.batch_size.max(1);
    let reader = tokio::spawn(async move {
        let mut after = 0;
        loop {
            let batch = source.batch(after, size).await;
            let last = batch.as_ref().ok().and_then(|b| b.last().map(|l| l.user.id));
            let done = last.is_none();
            if tx.send(batch).await.is_err() || done {
                break;
            }
            after = last.unwrap_or(after);
        }
        source.close().await;
    });

    let mut report = Report { dry_run: options.dry_run, ..Report::default() };
    while let Some(batch) = rx.recv().await {
        let learners = batch?;
        if learners.is_empty() {
            break;
        }
        let (tenant, rules, state_ids, dry_run) =
            (tenant.clone(), Arc::clone(&rules), Arc::clone(&state_ids), options.dry_run);
        let outcome = db
            .write(move |c| {
                Box::pin(async move {
                    let target = sink::Target { tenant: &tenant, rules: &rules, state_ids: &state_ids };
                    let report = sink::apply(c, &target, &learners).await?;
                    if dry_run {
                        Err(BatchError::DryRun(Box::new(report)))
                    } else {
                        Ok(report)
                    }
                })
            })
            .await;
        let batch_report = match outcome {
            Ok(r) => r,
            Err(BatchError::DryRun(r)) => *r,
            Err(BatchError::Store(e)) => return Err(e.into()),
        };
        report.merge(batch_report);
        progress.advance(&report);
    }
    drop(rx);
    let _ = reader.await;
    Ok(report)
}
