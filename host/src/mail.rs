//! Outgoing mail, per site (`email` in the site config). `outbox` (the
//! default) stores each message in the `email_outbox` table; `smtp` delivers
//! it through the configured server and records the send there too. Either
//! way it happens inside the caller's write job: a failed send rolls the
//! whole change back, and a rolled-back change leaves no outbox row.

use crate::args;
use crate::clock::now_micros;
use crate::sites::Site;
use crate::store::{Conn, StoreError};
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

/// Why a message could not be sent.
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

/// Sends `message` for `site` as part of the write job on `c`.
pub async fn send(c: &mut Conn, site: &Site, message: &Message<'_>) -> Result<(), MailError> {
    let sent_at = match (site.config.email.kind.as_str(), site.config.email.url.as_deref()) {
        ("smtp", Some(url)) => {
            deliver(site, url, message).await?;
            Some(now_micros())
        }
        _ => None,
    };
    c.execute(
        "INSERT INTO email_outbox (tenant, site, user_id, to_address, subject, body, created, sent_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        args![
            &site.tenant,
            &site.id,
            message.user_id,
            message.to,
            message.subject,
            message.body,
            now_micros(),
            sent_at
        ],
    )
    .await?;
    Ok(())
}

/// Deletes every stored message of `user_id` (retirement's erasure).
pub async fn erase(c: &mut Conn, user_id: i64) -> Result<(), StoreError> {
    c.execute("DELETE FROM email_outbox WHERE user_id = $1", args![user_id]).await?;
    Ok(())
}

/// The sender address: the site's `email.from`, else `noreply@<first domain>`.
fn from_address(site: &Site) -> String {
    site.config.email.from.clone().unwrap_or_else(|| {
        format!("noreply@{}", site.config.domains.first().map(String::as_str).unwrap_or("localhost"))
    })
}

async fn deliver(site: &Site, url: &str, message: &Message<'_>) -> Result<(), MailError> {
    let email = lettre::Message::builder()
        .from(from_address(site).parse().map_err(|e| MailError::Message(format!("from: {e}")))?)
        .to(message.to.parse().map_err(|e| MailError::Message(format!("to: {e}")))?)
        .subject(message.subject)
        .header(ContentType::TEXT_PLAIN)
        .body(message.body.to_owned())
        .map_err(|e| MailError::Message(e.to_string()))?;
    let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
        .map_err(|e| MailError::Smtp(e.to_string()))?
        .timeout(Some(std::time::Duration::from_secs(10)))
        .build();
    transport.send(email).await.map_err(|e| MailError::Smtp(e.to_string()))?;
    Ok(())
}
