//! `userapi retirement …` and `userapi orgs …`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

use super::{find_site, load_sites, open_db, site_db_user, CommonArgs};
use crate::retirement::{actions, report};

#[derive(Debug, Subcommand)]
pub enum RetirementCommand {
    /// Set is_being_processed on partner-reporting rows (all, or some usernames).
    ResetPartnerReport(ResetArgs),
    /// Hand out the unprocessed partner-reporting rows and write one report file per org.
    PartnerReport(ReportArgs),
}

#[derive(Debug, Args)]
pub struct ResetArgs {
    /// true or false.
    #[arg(long, action = clap::ArgAction::Set)]
    processing: bool,
    /// Original usernames; without any, every row.
    #[arg(long = "username")]
    usernames: Vec<String>,
    /// Only rows of this site's tenant (default: every tenant).
    #[arg(long)]
    site: Option<String>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[arg(long)]
    site: String,
    /// Directory the report files are written to.
    #[arg(long)]
    out: PathBuf,
}

/// Runs a retirement subcommand.
pub async fn run(common: &CommonArgs, command: RetirementCommand) -> anyhow::Result<ExitCode> {
    match command {
        RetirementCommand::ResetPartnerReport(args) => {
            let tenant = match &args.site {
                Some(name) => Some(find_site(&load_sites(common)?, name)?.tenant.clone()),
                None => None,
            };
            let db = open_db(common).await?;
            let updated = actions::reset_partner_processing(&db, tenant.as_deref(), &args.usernames, args.processing)
                .await
                .context("cannot reset the partner-reporting rows")?;
            db.close().await;
            println!("{updated}");
            Ok(ExitCode::SUCCESS)
        }
        RetirementCommand::PartnerReport(args) => {
            let registry = load_sites(common)?;
            let site = find_site(&registry, &args.site)?;
            let db = open_db(common).await?;
            let rows =
                actions::fetch_partner_report(&db, &site.tenant).await.context("cannot fetch the reporting rows")?;
            db.close().await;
            std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
            let mut failed = false;
            for (org, file) in report::org_reports(&site, &rows) {
                match file {
                    Ok(file) => {
                        let path = args.out.join(&file.file_name);
                        std::fs::write(&path, &file.bytes)
                            .with_context(|| format!("cannot write {}", path.display()))?;
                        println!("{}", path.display());
                    }
                    Err(e) => {
                        eprintln!("error: the report for org {org:?} was not produced: {e}");
                        failed = true;
                    }
                }
            }
            if failed {
                return Ok(ExitCode::FAILURE);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum OrgsCommand {
    /// Record that a user belongs to an org (reported to it on retirement).
    Add(OrgArgs),
    /// Remove that membership.
    Remove(OrgArgs),
}

#[derive(Debug, Args)]
pub struct OrgArgs {
    #[arg(long)]
    site: String,
    #[arg(long)]
    username: String,
    #[arg(long)]
    org: String,
}

/// Runs an orgs subcommand.
pub async fn run_orgs(common: &CommonArgs, command: OrgsCommand) -> anyhow::Result<ExitCode> {
    let (args, add) = match &command {
        OrgsCommand::Add(a) => (a, true),
        OrgsCommand::Remove(a) => (a, false),
    };
    let (_site, db, user) = site_db_user(common, &args.site, &args.username).await?;
    crate::preferences::service::set_org_membership(&db, user.id, &args.org, add).await?;
    db.close().await;
    Ok(ExitCode::SUCCESS)
}
