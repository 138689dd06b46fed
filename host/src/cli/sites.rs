//! `userapi sites check`.

use std::process::ExitCode;

use super::CommonArgs;
use crate::sites::load::load_dir;

/// Prints a report of every site; exit 1 on any error.
pub fn check(common: &CommonArgs) -> ExitCode {
    match load_dir(&common.sites) {
        Ok(set) => {
            for site in set.all() {
                let plugins = &site.plugins;
                let slots = [&plugins.validator, &plugins.visibility, &plugins.formatter];
                let named: Vec<String> =
                    slots.iter().filter_map(|p| p.as_ref()).map(|p| format!("{} ({})", p.slot, p.name)).collect();
                println!(
                    "ok   {} (tenant {}, domains {}){}{}",
                    site.id,
                    site.tenant,
                    site.config.domains.join(", "),
                    if site.config.default { ", default" } else { "" },
                    if named.is_empty() { String::new() } else { format!(", plugins: {}", named.join(", ")) }
                );
                for field in crate::accounts::extended_profile::described_fields(site) {
                    let choices: Vec<&str> = field.choices.iter().map(|c| c.value.as_str()).collect();
                    println!(
                        "     extended profile field {} ({:?}, {}{}){}",
                        field.name,
                        field.label,
                        field.kind,
                        if field.required { ", required" } else { "" },
                        if choices.is_empty() { String::new() } else { format!(": {}", choices.join(" | ")) }
                    );
                }
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
