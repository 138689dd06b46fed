//! Sites and tenants: the configuration files, their validation, and the
//! live set that requests are resolved against.

pub mod config;
pub mod load;
pub mod registry;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

pub use config::SiteConfig;
pub use registry::SiteRegistry;

use crate::auth::jwt::SiteKeys;
use crate::plugins::SitePlugins;

/// One loaded, validated site.
#[derive(Debug)]
pub struct Site {
    /// Unique to this load of the site: what is derived from its config
    /// (rendered accounts) is keyed by it, so a reload never serves stale output.
    pub generation: u64,
    /// The site's id (`site`).
    pub id: String,
    /// The user namespace this site serves (`tenant`, defaulting to the id).
    pub tenant: String,
    /// The file it was loaded from.
    pub file: PathBuf,
    /// The configuration as written, with defaults filled in.
    pub config: SiteConfig,
    /// JWT keys and claim rules.
    pub keys: SiteKeys,
    /// The compiled `extended_profile_schema`, if any.
    pub extended_profile_schema: Option<jsonschema::Validator>,
    /// The plugins its slots name, loaded and checked.
    pub plugins: SitePlugins,
}

impl Site {
    /// Whether `origin` (`scheme://host[:port]`, http or https) names one of
    /// this site's own domains.
    pub fn is_own_origin(&self, origin: &str) -> bool {
        let host = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"));
        host.filter(|h| !h.contains(['/', '@', '\\']))
            .is_some_and(|h| self.config.domains.iter().any(|d| d.eq_ignore_ascii_case(strip_port(h))))
    }

    /// Whether the site's CORS settings list `origin` exactly.
    pub fn lists_cors_origin(&self, origin: &str) -> bool {
        self.config.cors.as_ref().is_some_and(|c| c.allowed_origins.iter().any(|o| o == origin))
    }

    /// Origins the site trusts with its users: its own and its CORS origins.
    pub fn trusts_origin(&self, origin: &str) -> bool {
        self.is_own_origin(origin) || self.lists_cors_origin(origin)
    }
}

/// A number no other site load in this process has.
pub fn next_generation() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Every loaded site, indexed by domain.
#[derive(Debug, Default)]
pub struct SiteSet {
    sites: Vec<Arc<Site>>,
    by_domain: HashMap<String, Arc<Site>>,
    default: Option<Arc<Site>>,
}

impl SiteSet {
    /// Builds the index of an already validated list of sites.
    pub fn new(sites: Vec<Site>) -> SiteSet {
        let sites: Vec<Arc<Site>> = sites.into_iter().map(Arc::new).collect();
        let mut by_domain = HashMap::new();
        let mut default = None;
        for site in &sites {
            for d in &site.config.domains {
                by_domain.insert(d.to_ascii_lowercase(), Arc::clone(site));
            }
            if site.config.default {
                default = Some(Arc::clone(site));
            }
        }
        SiteSet { sites, by_domain, default }
    }

    /// The site serving `host` (a Host header; the port is ignored), falling
    /// back to the default site.
    pub fn for_host(&self, host: &str) -> Option<Arc<Site>> {
        let name = strip_port(host).to_ascii_lowercase();
        self.by_domain.get(&name).cloned().or_else(|| self.default.clone())
    }

    /// The site named by id or by one of its domains (for the CLI).
    pub fn by_name(&self, name: &str) -> Option<Arc<Site>> {
        self.sites
            .iter()
            .find(|s| s.id == name)
            .cloned()
            .or_else(|| self.by_domain.get(&name.to_ascii_lowercase()).cloned())
    }

    /// All sites, in file-name order.
    pub fn all(&self) -> &[Arc<Site>] {
        &self.sites
    }
}

/// A Host header without its port (`[::1]:80` → `::1`).
pub fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        // [::1]:8000
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::strip_port;

    #[test]
    fn ports_are_ignored() {
        assert_eq!(strip_port("learn.example.com:8000"), "learn.example.com");
        assert_eq!(strip_port("localhost"), "localhost");
        assert_eq!(strip_port("[::1]:80"), "::1");
    }
}
