//! Outgoing mail. Sites whose `email.kind` is `outbox` (the default) store
//! each message in the `email_outbox` table, inside the caller's
//! transaction, so a rolled-back change sends nothing.

use sqlx::AnyConnection;

use crate::clock::now_micros;
use crate::sites::Site;
use crate::store::StoreError;

/// Why a message could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("SMTP delivery is not implemented yet; configure {{\"kind\": \"outbox\"}}")]
    SmtpUnsupported,
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

/// Sends `message` for `site` as part of the transaction on `conn`.
pub async fn send(conn: &mut AnyConnection, site: &Site, message: &Message<'_>) -> Result<(), MailError> {
    if site.config.email.kind != "outbox" {
        return Err(MailError::SmtpUnsupported);
    }
    sqlx::query(
        "INSERT INTO email_outbox (tenant, site, user_id, to_address, subject, body, created) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&site.tenant)
    .bind(&site.id)
    .bind(message.user_id)
    .bind(message.to)
    .bind(message.subject)
    .bind(message.body)
    .bind(now_micros())
    .execute(&mut *conn)
    .await
    .map_err(StoreError::from)?;
    Ok(())
}
