//! Outgoing mail, per site (`email` in the site config), always through the
//! `email_outbox` table. [`send`] only writes the message as part of the
//! caller's write job, so a change that rolls back sends nothing, and no
//! network I/O happens while the write lock is held. With `kind: "smtp"` the
//! row is `pending`, and [`run_worker`] delivers it after the commit, with
//! retries and exponential backoff; after [`MAX_ATTEMPTS`] failures it is
//! `dead` (a dead letter, shown by `/metrics` and `userapi mail outbox`).
//! With `kind: "outbox"` (the default) the row is `stored`, for staff to read.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio::sync::Notify;

use crate::args;
use crate::clock::now_micros;
use crate::metrics::Tally;
use crate::sites::{Site, SiteRegistry};
use crate::store::{Conn, Db, StoreError};
use crate::users::sealing::{self, col};

/// Delivery attempts before a message becomes a dead letter.
pub const MAX_ATTEMPTS: i64 = 10;
/// How long one attempt may take; a claimed row is left alone meanwhile.
const SMTP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long another worker keeps its hands off a row being delivered.
const CLAIM: Duration = Duration::from_secs(60);
/// Messages taken per pass.
const BATCH: i64 = 50;
/// The longest wait between two retries of a message.
const MAX_WAIT: Duration = Duration::from_secs(3600);
/// The longest wait between two passes: messages queued by a process that
/// cannot wake this worker (the CLI, another instance) wait at most this.
const IDLE_POLL: Duration = Duration::from_secs(30);

/// Why a message could not be queued or delivered.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid address or message: {0}")]
    Message(String),
    #[error("SMTP delivery failed: {0}")]
    Smtp(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One message to send.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    pub user_id: Option<i64>,
    pub to: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
}

/// Delivery counts for `/metrics`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counters {
    pub delivered: u64,
    pub failed_attempts: u64,
    pub pending: u64,
    pub dead: u64,
}

#[derive(Debug, Default)]
struct Tallies {
    delivered: Tally,
    failed_attempts: Tally,
    pending: Tally,
    dead: Tally,
}

fn tallies() -> &'static Tallies {
    static TALLIES: OnceLock<Tallies> = OnceLock::new();
    TALLIES.get_or_init(Tallies::default)
}

/// This process's delivery counts (pending and dead as of the worker's last pass).
pub fn counters() -> Counters {
    let t = tallies();
    Counters {
        delivered: t.delivered.get(),
        failed_attempts: t.failed_attempts.get(),
        pending: t.pending.get(),
        dead: t.dead.get(),
    }
}

/// Wakes the worker when a job that queued mail commits.
fn wake() -> &'static Notify {
    static WAKE: OnceLock<Notify> = OnceLock::new();
    WAKE.get_or_init(Notify::new)
}

/// Queues `message` for `site` as part of the write job on `c`; it is
/// delivered (for SMTP sites) once the job commits, never if it rolls back.
pub async fn send(c: &mut Conn, site: &Site, message: &Message<'_>) -> Result<(), MailError> {
    // Refuse what could never be delivered now, while the caller can still
    // roll back and say so.
    let _ = build(site, message)?;
    let state = if is_smtp(site) { "pending" } else { "stored" };
    let (to, body) = match message.user_id {
        Some(id) => (
            sealing::seal(c, id, col::OUTBOX_TO, message.to).await?,
            sealing::seal(c, id, col::OUTBOX_BODY, message.body).await?,
        ),
        None => (message.to.to_owned(), message.body.to_owned()),
    };
    c.execute(
        "INSERT INTO email_outbox (tenant, site, user_id, to_address, subject, body, created, state, attempts) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0)",
        args![&site.tenant, &site.id, message.user_id, &to, message.subject, &body, now_micros(), state],
    )
    .await?;
    if state == "pending" {
        c.after_commit(|| wake().notify_one());
    }
    Ok(())
}

/// Deletes every stored message of `user_id` (retirement's erasure).
pub async fn erase(c: &mut Conn, user_id: i64) -> Result<(), StoreError> {
    c.execute("DELETE FROM email_outbox WHERE user_id = $1", args![user_id]).await?;
    Ok(())
}

fn is_smtp(site: &Site) -> bool {
    site.config.email.kind == "smtp" && site.config.email.url.is_some()
}

/// The sender address: the site's `email.from`, else `noreply@<first domain>`.
fn from_address(site: &Site) -> String {
    site.config.email.from.clone().unwrap_or_else(|| {
        format!("noreply@{}", site.config.domains.first().map(String::as_str).unwrap_or("localhost"))
    })
}

fn build(site: &Site, message: &Message<'_>) -> Result<lettre::Message, MailError> {
    lettre::Message::builder()
        .from(from_address(site).parse().map_err(|e| MailError::Message(format!("from: {e}")))?)
        .to(message.to.parse().map_err(|e| MailError::Message(format!("to: {e}")))?)
        .subject(message.subject)
        .header(ContentType::TEXT_PLAIN)
        .body(message.body.to_owned())
        .map_err(|e| MailError::Message(e.to_string()))
}

async fn deliver(site: &Site, message: &Message<'_>) -> Result<(), MailError> {
    let url = site.config.email.url.as_deref().ok_or_else(|| MailError::Smtp("no SMTP url".into()))?;
    let email = build(site, message)?;
    let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
        .map_err(|e| MailError::Smtp(e.to_string()))?
        .timeout(Some(SMTP_TIMEOUT))
        .build();
    transport.send(email).await.map_err(|e| MailError::Smtp(e.to_string()))?;
    Ok(())
}

/// The wait before attempt `attempts + 1`: `base` doubled per failure, at most an hour.
pub fn backoff(base: Duration, attempts: i64) -> Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    base.saturating_mul(1 << doublings).min(MAX_WAIT)
}

type Due = (i64, String, Option<i64>, String, String, String, i64);

/// Delivers what is due, forever: woken by commits that queued mail, and
/// otherwise when the next retry is due. Several instances may run it on
/// one database: each row is claimed before it is sent.
pub async fn run_worker(db: Db, sites: Arc<SiteRegistry>, retry_base: Duration) {
    loop {
        let wait = match deliver_due(&db, &sites, retry_base).await {
            Ok(wait) => wait,
            Err(e) => {
                tracing::error!(error = %e, "mail outbox pass failed");
                retry_base.max(Duration::from_secs(1))
            }
        };
        let _ = tokio::time::timeout(wait, wake().notified()).await;
    }
}

/// One pass: delivers every due message; returns how long until the next
/// retry is due.
pub async fn deliver_due(db: &Db, sites: &SiteRegistry, retry_base: Duration) -> Result<Duration, StoreError> {
    loop {
        let now = now_micros();
        let due: Vec<Due> = db
            .read(move |c| {
                Box::pin(async move {
                    let rows: Vec<Due> = c
                        .fetch_all(
                            "SELECT id, site, user_id, to_address, subject, body, attempts FROM email_outbox \
                             WHERE state = 'pending' AND (next_attempt IS NULL OR next_attempt <= $1) \
                             ORDER BY id LIMIT $2",
                            args![now, BATCH],
                        )
                        .await?;
                    let mut opened = Vec::with_capacity(rows.len());
                    for (id, site, user, to, subject, body, attempts) in rows {
                        let (to, body) = match user {
                            Some(u) => (
                                sealing::open_of(c, u, col::OUTBOX_TO, &to).await?,
                                sealing::open_of(c, u, col::OUTBOX_BODY, &body).await?,
                            ),
                            None => (to, body),
                        };
                        opened.push((id, site, user, to, subject, body, attempts));
                    }
                    Ok::<_, StoreError>(opened)
                })
            })
            .await?;
        let full = due.len() as i64 == BATCH;
        for row in due {
            deliver_one(db, sites, retry_base, row).await?;
        }
        if !full {
            break;
        }
    }
    let (pending, dead, next): (i64, i64, Option<i64>) = db
        .read(|c| {
            Box::pin(async move {
                c.fetch_one(
                    "SELECT (SELECT COUNT(*) FROM email_outbox WHERE state = 'pending'), \
                            (SELECT COUNT(*) FROM email_outbox WHERE state = 'dead'), \
                            (SELECT MIN(next_attempt) FROM email_outbox WHERE state = 'pending')",
                    &[],
                )
                .await
            })
        })
        .await?;
    tallies().pending.set(u64::try_from(pending).unwrap_or(0));
    tallies().dead.set(u64::try_from(dead).unwrap_or(0));
    let until_next =
        next.map_or(IDLE_POLL, |at| Duration::from_micros(u64::try_from(at.saturating_sub(now_micros())).unwrap_or(0)));
    Ok(until_next.clamp(Duration::from_millis(10), IDLE_POLL))
}

async fn deliver_one(db: &Db, sites: &SiteRegistry, retry_base: Duration, row: Due) -> Result<(), StoreError> {
    let (id, site_id, user_id, to, subject, body, attempts) = row;
    // Claim the row so that another instance does not send it too.
    let claimed_until = now_micros().saturating_add(CLAIM.as_micros() as i64);
    let now = now_micros();
    let claimed = db
        .write(move |c| {
            Box::pin(async move {
                c.execute(
                    "UPDATE email_outbox SET next_attempt = $1 WHERE id = $2 AND state = 'pending' \
                     AND (next_attempt IS NULL OR next_attempt <= $3)",
                    args![claimed_until, id, now],
                )
                .await
            })
        })
        .await?;
    if claimed == 0 {
        return Ok(());
    }
    let site = sites.current().all().iter().find(|s| s.id == site_id).cloned();
    let outcome = match &site {
        Some(site) if is_smtp(site) => {
            let message = Message { user_id, to: &to, subject: &subject, body: &body };
            deliver(site, &message).await
        }
        _ => Err(MailError::Smtp(format!("site {site_id:?} no longer sends mail over SMTP"))),
    };
    let attempts = attempts + 1;
    let (state, next_attempt, error) = match &outcome {
        Ok(()) => {
            tallies().delivered.inc();
            ("sent", None, None)
        }
        Err(e) => {
            tallies().failed_attempts.inc();
            let dead = attempts >= MAX_ATTEMPTS;
            if dead {
                tracing::error!(id, attempts, error = %e, "mail given up: dead letter");
            } else {
                tracing::warn!(id, attempts, error = %e, "mail delivery failed; will retry");
            }
            let next = now_micros().saturating_add(backoff(retry_base, attempts).as_micros() as i64);
            if dead {
                ("dead", None, Some(e.to_string()))
            } else {
                ("pending", Some(next), Some(e.to_string()))
            }
        }
    };
    let sent_at = outcome.is_ok().then(now_micros);
    db.write(move |c| {
        Box::pin(async move {
            c.execute(
                "UPDATE email_outbox SET state = $1, attempts = $2, next_attempt = $3, last_error = $4, sent_at = $5 \
                 WHERE id = $6",
                args![state, attempts, next_attempt, &error, sent_at, id],
            )
            .await
        })
    })
    .await?;
    Ok(())
}

/// One row of the outbox, as `userapi mail outbox` lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OutboxEntry {
    pub id: i64,
    pub site: String,
    pub to: String,
    pub subject: String,
    /// The message text (it may hold links with activation keys).
    pub body: String,
    pub state: String,
    pub attempts: i64,
    pub created: i64,
    pub next_attempt: Option<i64>,
    pub last_error: Option<String>,
}

/// The outbox's messages, newest first, optionally in one state.
pub async fn list(db: &Db, state: Option<String>, limit: i64) -> Result<Vec<OutboxEntry>, StoreError> {
    type Row = (i64, String, String, String, String, i64, i64, Option<i64>, Option<String>, Option<i64>, String);
    let rows: Vec<Row> = db
        .read(move |c| {
            Box::pin(async move {
                let rows: Vec<Row> = c
                    .fetch_all(
                        "SELECT id, site, to_address, subject, state, attempts, created, next_attempt, last_error, \
                         user_id, body FROM email_outbox WHERE ($1 IS NULL OR state = $1) ORDER BY id DESC LIMIT $2",
                        args![&state, limit],
                    )
                    .await?;
                let mut opened = Vec::with_capacity(rows.len());
                for mut row in rows {
                    if let Some(user) = row.9 {
                        row.2 = sealing::open_of(c, user, col::OUTBOX_TO, &row.2).await?;
                        row.10 = sealing::open_of(c, user, col::OUTBOX_BODY, &row.10).await?;
                    }
                    opened.push(row);
                }
                Ok::<_, StoreError>(opened)
            })
        })
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, site, to, subject, state, attempts, created, next_attempt, last_error, _, body)| OutboxEntry {
            id,
            site,
            to,
            subject,
            body,
            state,
            attempts,
            created,
            next_attempt,
            last_error,
        })
        .collect())
}

/// Puts dead letters back in the queue (after the operator fixed the cause).
pub async fn retry_dead(db: &Db) -> Result<u64, StoreError> {
    db.write(|c| {
        Box::pin(async move {
            c.execute(
                "UPDATE email_outbox SET state = 'pending', attempts = 0, next_attempt = NULL WHERE state = 'dead'",
                &[],
            )
            .await
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let base = Duration::from_secs(5);
        assert_eq!(backoff(base, 1), Duration::from_secs(5));
        assert_eq!(backoff(base, 2), Duration::from_secs(10));
        assert_eq!(backoff(base, 4), Duration::from_secs(40));
        assert_eq!(backoff(base, 30), MAX_WAIT);
        assert_eq!(backoff(base, i64::MAX), MAX_WAIT);
    }
}
