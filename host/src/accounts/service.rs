//! Account rules shared by the HTTP API and the CLI.

use super::store::{self, NewUser};
use super::types::{Email, InvalidValue, Username};
use crate::auth::password;
use crate::store::{Db, StoreError};

/// Why an account could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateAccountError {
    #[error("invalid username: {0}")]
    Username(InvalidValue),
    #[error("invalid email: {0}")]
    Email(InvalidValue),
    #[error("an account with the username {0:?} already exists in this tenant")]
    DuplicateUsername(String),
    #[error("an account with the email {0:?} already exists in this tenant")]
    DuplicateEmail(String),
    #[error(transparent)]
    Store(StoreError),
}

/// The facts of an account to create.
#[derive(Debug, Clone, Default)]
pub struct AccountRequest {
    pub username: String,
    pub email: String,
    pub password: Option<String>,
    pub name: String,
    pub is_active: bool,
    pub is_staff: bool,
    pub is_superuser: bool,
}

/// Creates a user and its profile in `tenant`, in one transaction, and
/// records it in the audit log. Without a password the account gets an
/// unusable one (it can only be used through tokens issued for it).
pub async fn create_account(db: &Db, tenant: &str, req: AccountRequest) -> Result<i64, CreateAccountError> {
    let username = Username::parse(&req.username).map_err(CreateAccountError::Username)?;
    let email = Email::parse(&req.email).map_err(CreateAccountError::Email)?;
    let password_hash = match &req.password {
        Some(p) => password::hash(p),
        None => password::unusable(),
    };
    let new = NewUser {
        username,
        email,
        password_hash,
        name: req.name,
        is_active: req.is_active,
        is_staff: req.is_staff,
        is_superuser: req.is_superuser,
    };
    let mut tx = db.begin().await.map_err(CreateAccountError::Store)?;
    let id = match store::insert_user(&mut tx, tenant, &new).await {
        Ok(id) => id,
        Err(StoreError::Unique(msg)) if msg.contains("email") => {
            return Err(CreateAccountError::DuplicateEmail(req.email))
        }
        Err(StoreError::Unique(_)) => return Err(CreateAccountError::DuplicateUsername(req.username)),
        Err(e) => return Err(CreateAccountError::Store(e)),
    };
    store::audit(&mut tx, tenant, Some(id), None, "account_created", None).await.map_err(CreateAccountError::Store)?;
    tx.commit().await.map_err(|e| CreateAccountError::Store(e.into()))?;
    Ok(id)
}
