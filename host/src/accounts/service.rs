//! Account rules shared by the HTTP API and the CLI: the domain's errors,
//! account creation and permission checks.

use crate::auth::password;
use crate::messages::FieldErrors;
use crate::plugins::CallError;
use crate::store::{Db, StoreError};
use crate::users::store::{self as users, NewUser};
use crate::users::types::{Email, InvalidValue, Username};

/// Why an account request was refused. The HTTP layer renders each in
/// Open edX's shape (`accounts/routes.rs`).
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// 404 with an empty body: no such account, or not for this caller.
    #[error("not found")]
    NotFound,
    /// 403 with an empty body.
    #[error("forbidden")]
    Forbidden,
    /// DRF's 403 "You do not have permission to perform this action."
    #[error("permission denied")]
    PermissionDenied,
    /// 400: every failing field.
    #[error("invalid fields")]
    Fields(FieldErrors),
    /// The site's validator plugin failed: nothing was stored.
    #[error(transparent)]
    Plugin(#[from] CallError),
    /// The write transaction failed; the cause is in the log.
    #[error("saving account updates failed")]
    SaveFailed,
    /// The confirmation mail could not be sent; nothing was stored.
    #[error("Unable to send email activation link. Please try again later.")]
    EmailNotSent,
    /// A name-change request was refused (`{"new_name": …}` shapes).
    #[error("name change refused: {0:?}")]
    NewName(NewNameRefusal),
    /// Self-service deletion: the account is locked after failed attempts.
    #[error("This account has been temporarily locked due to excessive login failures. Try again later.")]
    Locked,
    /// Self-service deletion without a password.
    #[error("Could not verify user password: 'password'")]
    PasswordMissing,
    /// Self-service deletion with a wrong password.
    #[error("Email or password is incorrect.")]
    PasswordWrong,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a name-change request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewNameRefusal {
    /// `{"new_name": [message]}`.
    Invalid(&'static str),
    /// `{"new_name": "The profile name given was identical to the current name."}`.
    Unchanged,
}

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
    let password_hash = match req.password {
        Some(p) => password::hash_off_thread(p).await,
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
    let tenant = tenant.to_owned();
    let inserted = db
        .write(move |c| {
            Box::pin(async move {
                let id = users::insert_user(c, &tenant, &new).await?;
                users::audit(c, &tenant, Some(id), None, "account_created", None).await?;
                Ok::<_, StoreError>(id)
            })
        })
        .await;
    match inserted {
        Ok(id) => Ok(id),
        Err(StoreError::Unique(msg)) if msg.contains("email") => Err(CreateAccountError::DuplicateEmail(req.email)),
        Err(StoreError::Unique(_)) => Err(CreateAccountError::DuplicateUsername(req.username)),
        Err(e) => Err(CreateAccountError::Store(e)),
    }
}

/// The permission that allows deactivating other users (edX `student.can_deactivate_users`).
pub const CAN_DEACTIVATE_USERS: &str = "student.can_deactivate_users";
