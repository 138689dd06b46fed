//! Seeds `scripts/bench.sh`'s users in one process: `bench_seed SITE.json N
//! TOKENS_FILE` creates users `bench0` … `bench{N-1}` in the site's tenant of
//! the database at `USERAPI_DATABASE_URL`, each with a profile, a language,
//! a social link and a few preferences, and writes `username token` lines.

use std::fmt::Write;

use userapi::accounts::service::{create_account, AccountRequest};
use userapi::args;
use userapi::auth::jwt::{SiteKeys, TokenSubject};
use userapi::sites::config::JwtConfig;
use userapi::store::{Db, Options, StoreError};
use userapi::users::sealing::{col, seal};
use userapi::users::User;

/// Opens the tenant's keys as `userapi serve` would, writing the SQLite
/// default keyring when this run made it.
async fn open_vault(db: &Db, url: &str, tenant: &str) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    use userapi::crypto::setup::{self, VaultOptions};
    let options = VaultOptions {
        database_url: url.to_owned(),
        tenants: [(tenant.to_owned(), None)].into(),
        keyring: std::env::var_os("USERAPI_KEYRING").map(Into::into),
        keystore: None,
    };
    let (vault, created) = setup::open(&options).await?;
    db.set_vault(std::sync::Arc::new(vault));
    userapi::users::sealing::verify_keys(db).await?;
    if let Some(new) = created {
        new.keyring.write(&new.path)?;
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: bench_seed SITE.json N TOKENS_FILE";
    let site_file = args.next().ok_or(usage)?;
    let count: usize = args.next().ok_or(usage)?.parse()?;
    let out = args.next().ok_or(usage)?;
    let url = std::env::var("USERAPI_DATABASE_URL")?;
    let config: serde_json::Value = serde_json::from_slice(&std::fs::read(&site_file)?)?;
    let tenant = config["tenant"].as_str().ok_or("the site has no tenant")?.to_owned();
    let jwt: JwtConfig = serde_json::from_value(config["jwt"].clone())?;
    let keys = SiteKeys::from_config(&jwt)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let tokens = runtime.block_on(async move {
        let db = Db::connect(&url, Options::default()).await?;
        open_vault(&db, &url, &tenant).await?;
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..count {
            let (db, tenant) = (db.clone(), tenant.clone());
            tasks.spawn(async move { seed(&db, &tenant, i).await });
        }
        let mut users = Vec::with_capacity(count);
        while let Some(done) = tasks.join_next().await {
            users.push(done??);
        }
        users.sort_by_key(|u: &User| u.id);
        db.close().await;
        let mut lines = String::new();
        for user in &users {
            let subject = TokenSubject::of(user, None);
            let token =
                keys.issue(&subject, &["read", "write", "email", "profile"], "", Some(86_400)).ok_or("no key")?;
            writeln!(lines, "{} {token}", user.username)?;
        }
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(lines)
    });
    std::fs::write(out, tokens.map_err(|e| e.to_string())?)?;
    Ok(())
}

async fn seed(db: &Db, tenant: &str, i: usize) -> Result<User, Box<dyn std::error::Error + Send + Sync>> {
    let request = AccountRequest {
        username: format!("bench{i}"),
        email: format!("bench{i}@example.com"),
        name: format!("Bench User {i}"),
        is_active: true,
        ..AccountRequest::default()
    };
    let id = create_account(db, tenant, request).await?;
    let tenant = tenant.to_owned();
    let user = db
        .write(move |c| {
            Box::pin(async move {
                let bio = seal(c, id, &col::profile("bio"), &format!("The bio of bench user {i}.")).await?;
                let year = seal(c, id, &col::profile("year_of_birth"), "1990").await?;
                let city = seal(c, id, &col::profile("city"), "Lyon").await?;
                c.execute(
                    "UPDATE profiles SET bio = $1, country = 'FR', year_of_birth = $2, city = $3, \
                     level_of_education = 'b', gender = 'o' WHERE user_id = $4",
                    args![&bio, &year, &city, id],
                )
                .await?;
                c.execute("INSERT INTO language_proficiencies (user_id, code) VALUES ($1, 'fr')", args![id]).await?;
                let link = seal(c, id, col::SOCIAL_LINK, &format!("https://www.twitter.com/bench{i}")).await?;
                c.execute(
                    "INSERT INTO social_links (user_id, platform, social_link) VALUES ($1, 'twitter', $2)",
                    args![id, &link],
                )
                .await?;
                for (key, value) in
                    [("account_privacy", "all_users"), ("pref-lang", "fr"), ("time_zone", "Europe/Paris")]
                {
                    c.execute(
                        "INSERT INTO preferences (user_id, key, value) VALUES ($1, $2, $3)",
                        args![id, key, value],
                    )
                    .await?;
                }
                let sql = format!(
                    "SELECT {} FROM users u WHERE u.tenant = $1 AND u.id = $2",
                    userapi::users::store::USER_COLUMNS
                );
                c.fetch_one::<User>(&sql, args![&tenant, id]).await
            })
        })
        .await
        .map_err(|e: StoreError| e.to_string())?;
    Ok(user)
}
