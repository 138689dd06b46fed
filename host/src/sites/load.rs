//! Loading a sites directory: JSON Schema check of every file, then the
//! rules that span files (unique ids and domains, one default, tenants that
//! agree on retirement settings and never share signing secrets).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde_json::Value;

use super::{Site, SiteConfig, SiteSet};
use crate::auth::jwt::SiteKeys;
use crate::plugins::{Cause, Plugin, SitePlugins, Slot};

/// The schema every site file must satisfy; shipped in the repository.
pub const SCHEMA_JSON: &str = include_str!("../../../site-config/schema.json");

/// Name of the schema file inside a sites directory, which is not a site.
const SCHEMA_FILE_NAME: &str = "schema.json";

/// One problem found while loading sites.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteIssue {
    /// The file, or the directory for problems spanning files.
    pub file: PathBuf,
    /// JSON pointer into the file ("" for the whole document).
    pub pointer: String,
    /// The rule broken.
    pub rule: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for SiteIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pointer = if self.pointer.is_empty() { "/" } else { &self.pointer };
        write!(f, "{}: at {}: [{}] {}", self.file.display(), pointer, self.rule, self.message)
    }
}

/// Every problem found in a sites directory; none of its sites were loaded.
#[derive(Debug, Clone, thiserror::Error)]
pub struct SiteLoadError {
    pub issues: Vec<SiteIssue>,
}

impl fmt::Display for SiteLoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.issues.iter().map(ToString::to_string).collect();
        write!(f, "invalid site configuration:\n  {}", lines.join("\n  "))
    }
}

fn schema_validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        // The schema is compiled into the binary; a unit test proves it compiles.
        let schema: Value = serde_json::from_str(SCHEMA_JSON).expect("site-config/schema.json is JSON");
        jsonschema::validator_for(&schema).expect("site-config/schema.json is a valid JSON Schema")
    })
}

/// Loads and validates every `*.json` file of `dir` (except `schema.json`).
pub fn load_dir(dir: &Path) -> Result<SiteSet, SiteLoadError> {
    let mut issues = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            return Err(SiteLoadError {
                issues: vec![issue(dir, "", "readable", format!("cannot read the sites directory: {e}"))],
            })
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter(|p| p.file_name().is_none_or(|n| n != SCHEMA_FILE_NAME))
        .collect();
    files.sort();
    let mut sites = Vec::new();
    for file in &files {
        match load_file(file) {
            Ok(site) => sites.push(site),
            Err(mut found) => issues.append(&mut found),
        }
    }
    if files.is_empty() {
        issues.push(issue(dir, "", "minItems", "the sites directory holds no site file (*.json)".into()));
    }
    if issues.is_empty() {
        issues = cross_site_issues(dir, &sites);
    }
    if issues.is_empty() {
        Ok(SiteSet::new(sites))
    } else {
        Err(SiteLoadError { issues })
    }
}

fn issue(file: &Path, pointer: &str, rule: &str, message: String) -> SiteIssue {
    SiteIssue { file: file.to_path_buf(), pointer: pointer.to_owned(), rule: rule.to_owned(), message }
}

/// Loads one site file.
pub fn load_file(file: &Path) -> Result<Site, Vec<SiteIssue>> {
    let text =
        std::fs::read_to_string(file).map_err(|e| vec![issue(file, "", "readable", format!("cannot read: {e}"))])?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| {
        vec![issue(file, "", "json", format!("not valid JSON (line {}, column {}): {e}", e.line(), e.column()))]
    })?;
    let schema_issues: Vec<SiteIssue> = schema_validator()
        .iter_errors(&doc)
        .map(|e| {
            let rule = e.schema_path().to_string().rsplit('/').next().unwrap_or_default().to_owned();
            issue(file, &e.instance_path().to_string(), &rule, e.to_string())
        })
        .collect();
    if !schema_issues.is_empty() {
        return Err(schema_issues);
    }
    let config: SiteConfig = serde_json::from_value(doc)
        .map_err(|e| vec![issue(file, "", "shape", format!("does not fit the site config: {e}"))])?;
    build_site(file, config)
}

fn build_site(file: &Path, config: SiteConfig) -> Result<Site, Vec<SiteIssue>> {
    let mut issues = Vec::new();
    let keys = SiteKeys::from_config(&config.jwt).map_err(|e| issue(file, "/jwt/public_jwks", "jwk", e.to_string()));
    let extended_profile_schema = match &config.extended_profile_schema {
        Some(schema) => match jsonschema::validator_for(schema) {
            Ok(v) => Some(v),
            Err(e) => {
                issues.push(issue(file, "/extended_profile_schema", "schema", format!("not a valid JSON Schema: {e}")));
                None
            }
        },
        None => None,
    };
    issues.extend(retirement_state_issues(file, &config));
    let visibility = &config.account_visibility_configuration;
    for name in visibility.public_fields.iter().chain(&visibility.custom_shareable_fields) {
        if !visibility.admin_fields.contains(name) {
            issues.push(issue(
                file,
                "/account_visibility_configuration",
                "subset",
                format!("field {name:?} is shareable but not in admin_fields"),
            ));
        }
    }
    let keys = match keys {
        Ok(k) => k,
        Err(i) => {
            issues.push(i);
            return Err(issues);
        }
    };
    if !issues.is_empty() {
        return Err(issues);
    }
    let plugins = load_plugins(file, &config).map_err(|i| vec![i])?;
    Ok(Site {
        generation: super::next_generation(),
        id: config.site.clone(),
        tenant: config.tenant.clone().unwrap_or_else(|| config.site.clone()),
        file: file.to_path_buf(),
        config,
        keys,
        extended_profile_schema,
        plugins,
    })
}

/// Loads every plugin a site names (paths are relative to the site file),
/// checking each against its world; a validator's `describe` is called once
/// so a config it cannot use is refused here rather than on a learner's PATCH.
fn load_plugins(file: &Path, config: &SiteConfig) -> Result<SitePlugins, SiteIssue> {
    let base = file.parent().unwrap_or(Path::new("."));
    let mut loaded = SitePlugins::default();
    for slot in Slot::ALL {
        let named = match slot {
            Slot::Validator => &config.plugins.extended_profile_validator,
            Slot::Visibility => &config.plugins.visibility_policy,
            Slot::Formatter => &config.plugins.partner_report_formatter,
        };
        let Some(named) = named else { continue };
        let pointer = format!("/plugins/{}", slot.config_key());
        let plugin = Plugin::load(&config.site, slot, &base.join(&named.path), &named.config, &named.limits)
            .map_err(|e| issue(file, &pointer, "plugin", e))?;
        if slot == Slot::Validator {
            // Running out of a budget is the limits' fault, not the config's.
            loaded.described_fields = plugin.describe().map_err(|e| {
                let at = match e.cause {
                    Cause::Memory(_) | Cause::Fuel(_) | Cause::Timeout(_) => "limits",
                    _ => "config",
                };
                issue(file, &format!("{pointer}/{at}"), "plugin", e.to_string())
            })?;
        }
        let plugin = Some(Arc::new(plugin));
        match slot {
            Slot::Validator => loaded.validator = plugin,
            Slot::Visibility => loaded.visibility = plugin,
            Slot::Formatter => loaded.formatter = plugin,
        }
    }
    Ok(loaded)
}

/// retirement.md §1.1: PENDING first; ERRORED, ABORTED, COMPLETE last, in that order.
fn retirement_state_issues(file: &Path, config: &SiteConfig) -> Vec<SiteIssue> {
    let states = &config.retirement.states;
    let n = states.len();
    let ok = n >= 4
        && states[0] == "PENDING"
        && states[n - 3..] == ["ERRORED", "ABORTED", "COMPLETE"]
        && states.iter().filter(|s| ["PENDING", "ERRORED", "ABORTED", "COMPLETE"].contains(&s.as_str())).count() == 4;
    if ok {
        Vec::new()
    } else {
        vec![issue(
            file,
            "/retirement/states",
            "retirement_states",
            "must start with PENDING and end with ERRORED, ABORTED, COMPLETE (each exactly once)".into(),
        )]
    }
}

fn cross_site_issues(dir: &Path, sites: &[Site]) -> Vec<SiteIssue> {
    let mut issues = Vec::new();
    let mut ids: HashMap<&str, &Path> = HashMap::new();
    let mut domains: HashMap<String, &Path> = HashMap::new();
    let mut defaults = Vec::new();
    let mut secret_owner: HashMap<String, &str> = HashMap::new();
    let mut tenant_first: BTreeMap<&str, &Site> = BTreeMap::new();
    for site in sites {
        if let Some(other) = ids.insert(&site.id, &site.file) {
            issues.push(issue(
                &site.file,
                "/site",
                "unique",
                format!("site id {:?} is also used by {}", site.id, other.display()),
            ));
        }
        for (i, d) in site.config.domains.iter().enumerate() {
            if let Some(other) = domains.insert(d.to_ascii_lowercase(), &site.file) {
                issues.push(issue(
                    &site.file,
                    &format!("/domains/{i}"),
                    "unique",
                    format!("domain {d:?} is also served by {}", other.display()),
                ));
            }
        }
        if site.config.default {
            defaults.push(site.file.display().to_string());
        }
        let mut seen_here = HashSet::new();
        for fp in SiteKeys::secret_fingerprints(&site.config.jwt) {
            if !seen_here.insert(fp.clone()) {
                continue;
            }
            match secret_owner.get(fp.as_str()) {
                Some(tenant) if *tenant != site.tenant => issues.push(issue(
                    &site.file,
                    "/jwt/secret_keys",
                    "tenant_isolation",
                    format!(
                        "a secret key is shared with tenant {tenant:?}: tokens of one tenant would verify on another"
                    ),
                )),
                _ => {
                    secret_owner.insert(fp, &site.tenant);
                }
            }
        }
        match tenant_first.get(site.tenant.as_str()) {
            Some(first) => {
                let retirement_differs =
                    first.config.retirement.tenant_identity() != site.config.retirement.tenant_identity();
                let images_differ = first.config.profile_image != site.config.profile_image;
                for (differs, pointer, what) in [
                    (retirement_differs, "/retirement", "retirement states, salts and prefixes"),
                    (images_differ, "/profile_image", "profile image settings"),
                ] {
                    if differs {
                        issues.push(issue(
                            &site.file,
                            pointer,
                            "tenant_consistency",
                            format!(
                                "sites of tenant {:?} must share {what}, but {} differs",
                                site.tenant,
                                first.file.display()
                            ),
                        ));
                    }
                }
            }
            None => {
                tenant_first.insert(&site.tenant, site);
            }
        }
    }
    if defaults.len() > 1 {
        issues.push(issue(dir, "/default", "unique", format!("more than one default site: {}", defaults.join(", "))));
    }
    issues
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_schema_compiles_and_rejects_unknown_keys() {
        let doc = serde_json::json!({"site": "a", "domains": ["a.test"], "jwt": {"issuer": "i", "secret_keys": ["0123456789abcdef"]}, "typo": 1});
        let errors: Vec<String> = schema_validator().iter_errors(&doc).map(|e| e.to_string()).collect();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("typo"), "{errors:?}");
    }
}
