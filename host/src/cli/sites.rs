//! `userapi sites check`.

use std::process::ExitCode;

use super::CommonArgs;
use crate::sites::load::load_dir;

/// Prints a report of every site; exit 1 on any error.
pub fn check(common: &CommonArgs) -> ExitCode {
    match load_dir(&common.sites) {
        Ok(set) => {
            for site in set.all() {
                let plugins = &site.config.plugins;
                let slots = [
                    ("extended_profile_validator", &plugins.extended_profile_validator),
                    ("visibility_policy", &plugins.visibility_policy),
                    ("partner_report_formatter", &plugins.partner_report_formatter),
                ];
                let named: Vec<&str> = slots.iter().filter(|(_, p)| p.is_some()).map(|(n, _)| *n).collect();
                println!(
                    "ok   {} (tenant {}, domains {}){}{}",
                    site.id,
                    site.tenant,
                    site.config.domains.join(", "),
                    if site.config.default { ", default" } else { "" },
                    if named.is_empty() { String::new() } else { format!(", plugins: {}", named.join(", ")) }
                );
            }
            println!("{} site(s) valid", set.all().len());
            ExitCode::SUCCESS
        }
        Err(e) => {
            for issue in &e.issues {
                println!("FAIL {issue}");
            }
            println!("{} problem(s) found", e.issues.len());
            ExitCode::FAILURE
        }
    }
}
