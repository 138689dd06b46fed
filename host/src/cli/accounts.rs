//! `userapi users create`, `clients create`, `tokens issue`.

use std::process::ExitCode;

use anyhow::{anyhow, Context};
use clap::Args;

use super::{find_site, load_sites, open_db, site_db_user, CommonArgs};
use crate::accounts::service::{create_account, AccountRequest};
use crate::auth::jwt::TokenSubject;
use crate::auth::{clients, password};
use crate::users::store as users;

#[derive(Debug, Args)]
pub struct CreateUser {
    /// Site id or domain; the account is created in its tenant.
    #[arg(long)]
    site: String,
    #[arg(long)]
    username: String,
    #[arg(long)]
    email: String,
    /// Without it the account has an unusable password.
    #[arg(long)]
    password: Option<String>,
    /// Full name of the profile.
    #[arg(long, default_value = "")]
    name: String,
    /// Sets only the staff flag.
    #[arg(long)]
    staff: bool,
    /// Sets only the superuser flag.
    #[arg(long)]
    superuser: bool,
    /// Creates the account with is_active false (e-mail not confirmed).
    #[arg(long)]
    inactive: bool,
}

/// Creates an account and prints its id.
pub async fn create_user(common: &CommonArgs, args: CreateUser) -> anyhow::Result<ExitCode> {
    let registry = load_sites(common)?;
    let site = find_site(&registry, &args.site)?;
    let db = open_db(common).await?;
    let req = AccountRequest {
        username: args.username,
        email: args.email,
        password: args.password,
        name: args.name,
        is_active: !args.inactive,
        is_staff: args.staff,
        is_superuser: args.superuser,
    };
    let result = create_account(&db, &site.tenant, req).await;
    db.close().await;
    let id = result?;
    println!("{id}");
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub struct CreateClient {
    #[arg(long)]
    site: String,
    #[arg(long)]
    client_id: String,
    #[arg(long)]
    client_secret: String,
    /// The user the client's tokens act as.
    #[arg(long)]
    username: String,
}

/// Registers an OAuth2 client.
pub async fn create_client(common: &CommonArgs, args: CreateClient) -> anyhow::Result<ExitCode> {
    let (site, db, user) = site_db_user(common, &args.site, &args.username).await?;
    let hash = password::hash_off_thread(args.client_secret).await;
    let (tenant, client_id) = (site.tenant.clone(), args.client_id.clone());
    db.write(move |c| Box::pin(async move { clients::upsert(c, &tenant, &client_id, &hash, user.id).await }))
        .await
        .context("cannot store the client")?;
    db.close().await;
    println!("{}", args.client_id);
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub struct IssueToken {
    #[arg(long)]
    site: String,
    #[arg(long)]
    username: String,
    /// Lifetime in seconds (default: the site's `jwt.expires_in`).
    #[arg(long)]
    expires_in: Option<i64>,
}

/// Prints a signed JWT for a user.
pub async fn issue_token(common: &CommonArgs, args: IssueToken) -> anyhow::Result<ExitCode> {
    let (site, db, user) = site_db_user(common, &args.site, &args.username).await?;
    let id = user.id;
    let name = db.read(move |c| Box::pin(async move { users::profile_name(c, id).await })).await?;
    db.close().await;
    let subject = TokenSubject::of(&user, name.as_deref());
    let token = site
        .keys
        .issue(&subject, &["read", "write", "email", "profile", "user_id"], "", args.expires_in)
        .ok_or_else(|| anyhow!("site {} has no secret key to sign with", site.id))?;
    println!("{token}");
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub struct GrantPermission {
    #[arg(long)]
    site: String,
    #[arg(long)]
    username: String,
    /// The permission, e.g. student.can_deactivate_users.
    #[arg(long)]
    permission: String,
}

/// Grants a permission to a user.
pub async fn grant_permission(common: &CommonArgs, args: GrantPermission) -> anyhow::Result<ExitCode> {
    let (_site, db, user) = site_db_user(common, &args.site, &args.username).await?;
    let permission = args.permission.clone();
    db.write(move |c| Box::pin(async move { users::grant_permission(c, user.id, &permission).await }))
        .await
        .context("cannot grant")?;
    db.close().await;
    println!("{} now has {}", args.username, args.permission);
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub struct ShowUser {
    #[arg(long)]
    site: String,
    #[arg(long)]
    username: String,
}

/// Prints an account's stored record with its personal values opened.
pub async fn show_user(common: &CommonArgs, args: ShowUser) -> anyhow::Result<ExitCode> {
    let (site, db, user) = site_db_user(common, &args.site, &args.username).await?;
    let tenant = site.tenant.clone();
    let record = db
        .read(move |c| Box::pin(async move { crate::users::record::by_id(c, &tenant, user.id).await }))
        .await?
        .context("the account vanished")?;
    db.close().await;
    let (u, p) = (&record.user, &record.profile);
    let meta: serde_json::Value = serde_json::from_str(&p.meta).unwrap_or(serde_json::Value::Null);
    let out = serde_json::json!({
        "id": u.id, "username": u.username, "email": u.email, "is_active": u.is_active,
        "date_joined": u.date_joined, "last_login": u.last_login,
        "name": p.name, "meta": meta, "city": p.city, "year_of_birth": p.year_of_birth, "gender": p.gender,
        "level_of_education": p.level_of_education, "mailing_address": p.mailing_address, "goals": p.goals,
        "country": p.country, "state": p.state, "bio": p.bio, "phone_number": p.phone_number,
        "social_links": record.social_links, "language_proficiencies": record.languages,
        "preferences": record.preferences, "pending_name_change": record.pending_name_change,
        "secondary_email": record.secondary_email, "org_memberships": record.memberships,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(ExitCode::SUCCESS)
}
