//! The operator CLI (operator.md): one file per subcommand.

mod accounts;
mod import;
mod keys;
mod plugin;
mod retirement;
mod serve;
mod sites;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::sites::{Site, SiteRegistry};
use crate::store::{CacheHook, Db, NoCache, Options, Synchronous};
use crate::users::User;

/// userapi: Open edX's User API as a multi-tenant service.
#[derive(Debug, Parser)]
#[command(name = "userapi", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every subcommand reads; each also reads an environment variable.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Address to listen on.
    #[arg(long, global = true, env = "USERAPI_BIND", default_value = "127.0.0.1:8000")]
    pub bind: String,
    /// Database URL: sqlite://PATH, sqlite::memory: or postgres://...
    #[arg(long, global = true, env = "USERAPI_DATABASE_URL", default_value = "sqlite://userapi.db")]
    pub database: String,
    /// Directory of site configuration files.
    #[arg(long, global = true, env = "USERAPI_SITES_DIR", default_value = "site-config")]
    pub sites: PathBuf,
    /// Log format: pretty or json (default: pretty on a terminal, json otherwise).
    #[arg(long, global = true, env = "USERAPI_LOG")]
    pub log: Option<String>,
    /// Largest accepted request body, in bytes.
    #[arg(long, global = true, env = "USERAPI_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// SQLite durability: full (an acknowledged write survives power loss) or
    /// normal (it survives a process crash; faster).
    #[arg(long, global = true, env = "USERAPI_SQLITE_SYNCHRONOUS", default_value = "full")]
    pub sqlite_synchronous: Synchronous,
    /// User records kept in memory, about 3 KB each with their renderings
    /// (0 turns the cache off).
    #[arg(long, global = true, env = "USERAPI_CACHE_ENTRIES", default_value_t = 20_000)]
    pub cache_entries: u64,
    /// Milliseconds before the first retry of a failed SMTP delivery; each
    /// further retry waits twice as long, at most an hour.
    #[arg(long, global = true, env = "USERAPI_MAIL_RETRY_MS", default_value_t = 5_000)]
    pub mail_retry_ms: u64,
    /// The default keyring file: tenant keys for sites whose config names
    /// none (with SQLite: `<database>.keyring.json`, made on first start).
    #[arg(long, global = true, env = "USERAPI_KEYRING")]
    pub keyring: Option<PathBuf>,
    /// Where learner keys are kept, apart from the data: sqlite://PATH or
    /// postgres://... (default: `<database>.keys` beside an SQLite file,
    /// database `<name>_keys` on the same PostgreSQL server).
    #[arg(long, global = true, env = "USERAPI_KEYSTORE_URL")]
    pub keystore: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service until SIGINT/SIGTERM (reload sites on SIGHUP).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Site configuration commands.
    Sites {
        #[command(subcommand)]
        command: SitesCommand,
    },
    /// Account commands.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// OAuth2 client commands.
    Clients {
        #[command(subcommand)]
        command: ClientsCommand,
    },
    /// Token commands.
    Tokens {
        #[command(subcommand)]
        command: TokensCommand,
    },
    /// Retirement pipeline commands.
    Retirement {
        #[command(subcommand)]
        command: retirement::RetirementCommand,
    },
    /// Org memberships (reported to partners when a learner retires).
    Orgs {
        #[command(subcommand)]
        command: retirement::OrgsCommand,
    },
    /// Outgoing mail.
    Mail {
        #[command(subcommand)]
        command: MailCommand,
    },
    /// WebAssembly plugin commands.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// Bring accounts over from another system (`import openedx`).
    Import {
        #[command(subcommand)]
        command: import::ImportCommand,
    },
    /// Tenant and learner keys (`rotate`, `encrypt-existing`).
    Keys {
        #[command(subcommand)]
        command: keys::KeysCommand,
    },
    /// Print the OpenAPI 3.1 document of the HTTP API (what
    /// `/api/user/v1/openapi.json` serves), for client generators.
    Openapi,
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Say which plugin worlds (and WIT versions) a component implements.
    Check {
        /// The component file (.wasm).
        file: PathBuf,
    },
    /// Run one call of a component on a JSON input under the host's limits;
    /// print the answer with the fuel, memory and time it used and its log
    /// lines. With --fixtures, run every *.json case of a folder and print a
    /// pass/fail table. Exit 1 when a call fails, breaks a budget or a fixture fails.
    Run(plugin::RunArgs),
    /// Print the plugin WIT package as one file (`userapi plugin wit >
    /// userapi-plugins.wit`), or write its files into a folder.
    Wit {
        /// Write the package's files into this folder instead (created if missing).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// List the outbox as JSON, newest first: state (stored, pending, sent,
    /// dead), attempts, the next attempt and the last error.
    Outbox {
        /// Only messages in this state.
        #[arg(long, value_parser = ["stored", "pending", "sent", "dead"])]
        state: Option<String>,
        /// At most this many messages.
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// Put every dead letter back in the queue first.
        #[arg(long)]
        retry_dead: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SitesCommand {
    /// Load and validate every site config; exit 1 on any error.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create an account (user + profile); prints the new id.
    Create(accounts::CreateUser),
    /// Grant a permission, e.g. student.can_deactivate_users.
    Grant(accounts::GrantPermission),
    /// Print everything stored about an account, opened (a data-access
    /// request's answer, and what support needs to see).
    Show(accounts::ShowUser),
}

#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Register an OAuth2 client whose tokens act as a user.
    Create(accounts::CreateClient),
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Print a signed JWT for a user.
    Issue(accounts::IssueToken),
}

/// Sets up tracing to stderr (stdout carries command output). Lines are
/// written by a thread of their own, so a request never waits for stderr;
/// keep the returned guard alive until exit, which flushes the last lines.
pub fn init_logging(format: Option<&str>) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let json = match format {
        Some(f) => f.eq_ignore_ascii_case("json"),
        None => !std::io::stderr().is_terminal(),
    };
    let (writer, guard) = tracing_appender::non_blocking(std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.with_ansi(std::io::stderr().is_terminal()).try_init()
    };
    guard
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let common = cli.common;
    match cli.command {
        Command::Serve => serve::run(&common).await.map(|()| ExitCode::SUCCESS),
        Command::Migrate => {
            let db = open_db(&common).await?;
            db.close().await;
            println!("migrations applied");
            Ok(ExitCode::SUCCESS)
        }
        Command::Sites { command: SitesCommand::Check } => Ok(sites::check(&common)),
        Command::Openapi => {
            println!("{}", serde_json::to_string_pretty(&crate::app::openapi_document())?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Plugin { command: PluginCommand::Check { file } } => Ok(plugin::check(&file)),
        Command::Plugin { command: PluginCommand::Wit { out } } => plugin::wit(out.as_deref()),
        Command::Plugin { command: PluginCommand::Run(args) } => plugin::run(&args),
        Command::Users { command: UsersCommand::Create(args) } => accounts::create_user(&common, args).await,
        Command::Users { command: UsersCommand::Grant(args) } => accounts::grant_permission(&common, args).await,
        Command::Users { command: UsersCommand::Show(args) } => accounts::show_user(&common, args).await,
        Command::Clients { command: ClientsCommand::Create(args) } => accounts::create_client(&common, args).await,
        Command::Tokens { command: TokensCommand::Issue(args) } => accounts::issue_token(&common, args).await,
        Command::Retirement { command } => retirement::run(&common, command).await,
        Command::Orgs { command } => retirement::run_orgs(&common, command).await,
        Command::Import { command } => import::run(&common, command).await,
        Command::Keys { command } => keys::run(&common, command).await,
        Command::Mail { command: MailCommand::Outbox { state, limit, retry_dead } } => {
            let db = open_db(&common).await?;
            if retry_dead {
                let n = crate::mail::retry_dead(&db).await?;
                eprintln!("{n} dead letters queued again");
            }
            let entries = crate::mail::list(&db, state, limit.clamp(1, 100_000)).await?;
            db.close().await;
            println!("{}", serde_json::to_string_pretty(&entries)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Connects to the database and applies migrations, for a command that
/// keeps no cache.
async fn open_db(common: &CommonArgs) -> anyhow::Result<Db> {
    let sites = {
        let common = common.clone();
        tokio::task::spawn_blocking(move || load_sites(&common)).await??
    };
    open_db_with(common, &sites.current(), Arc::new(NoCache), false).await
}

/// Connects to the database, applies migrations and opens the vault of
/// `sites`' tenants; `hook` hears of every change, and with `listen` of
/// other instances' changes too.
async fn open_db_with(
    common: &CommonArgs,
    sites: &crate::sites::SiteSet,
    hook: Arc<dyn CacheHook>,
    listen: bool,
) -> anyhow::Result<Db> {
    let options = Options { synchronous: common.sqlite_synchronous, hook, listen };
    let db =
        Db::connect(&common.database, options).await.with_context(|| format!("cannot open {}", common.database))?;
    open_vault(common, &db, sites, None).await?;
    Ok(db)
}

/// Opens the vault of tenant keys for `db` (with `replace`'s keys for its
/// tenant instead of the configured ones, when given): see [`crate::tenant_keys::open`].
async fn open_vault(
    common: &CommonArgs,
    db: &Db,
    sites: &crate::sites::SiteSet,
    replace: Option<(String, crate::crypto::TenantKeys)>,
) -> anyhow::Result<()> {
    use crate::tenant_keys::KeysError;
    match crate::tenant_keys::open(&key_settings(common), db, sites, replace).await {
        Ok(()) => Ok(()),
        Err(e @ KeysError::Mismatch(_)) => Err(anyhow::Error::new(e).context("refusing to start")),
        Err(e) => Err(e.into()),
    }
}

/// Where the tenant keys are, from the common arguments.
fn key_settings(common: &CommonArgs) -> crate::tenant_keys::KeySettings {
    crate::tenant_keys::KeySettings {
        database_url: common.database.clone(),
        sites_dir: common.sites.clone(),
        keyring: common.keyring.clone(),
        keystore: common.keystore.clone(),
    }
}

/// Loads the sites directory.
fn load_sites(common: &CommonArgs) -> anyhow::Result<SiteRegistry> {
    SiteRegistry::load(&common.sites).map_err(|e| anyhow::anyhow!("{e}"))
}

/// The site named by id or domain.
fn find_site(registry: &SiteRegistry, name: &str) -> anyhow::Result<Arc<Site>> {
    registry.current().by_name(name).ok_or_else(|| anyhow::anyhow!("no site with id or domain {name:?}"))
}

/// The site named on the command line, the database, and a user of the site's tenant.
async fn site_db_user(common: &CommonArgs, site: &str, username: &str) -> anyhow::Result<(Arc<Site>, Db, User)> {
    let site = find_site(&load_sites(common)?, site)?;
    let db = open_db(common).await?;
    let (tenant, name) = (site.tenant.clone(), username.to_owned());
    let user = db
        .read(move |c| Box::pin(async move { crate::users::store::find_by_username(c, &tenant, &name).await }))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no user {username:?} in tenant {:?}", site.tenant))?;
    Ok((site, db, user))
}
