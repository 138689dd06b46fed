//! Calls into the partner-report-formatter world.

use serde_json::Value;

use super::wit::latest::formatter::ReportRequest;
use super::wit::latest::types::ReportRow;
use super::{plugin::Exports, CallError, Cause, Plugin};

/// One retired learner, as a formatter sees them.
#[derive(Debug, Clone)]
pub struct ReportEntry {
    pub user_id: i64,
    pub original_username: String,
    pub original_email: String,
    pub original_name: String,
    pub orgs: Vec<String>,
    /// ISO 8601 UTC.
    pub created: String,
}

/// A report file as a formatter produced it, its name already checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormattedReport {
    pub file_name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// A file name a report may be written under: no directories, nothing hidden.
fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
        && !name.chars().any(char::is_control)
}

impl Plugin {
    /// Formats one org's report.
    pub fn format_report(
        &self,
        org: &str,
        org_config: &Value,
        headings: &[String],
        rows: &[ReportEntry],
    ) -> Result<FormattedReport, CallError> {
        let request = ReportRequest {
            config: self.config.clone(),
            org: org.to_owned(),
            org_config: org_config.to_string(),
            headings: headings.to_vec(),
            rows: rows
                .iter()
                .map(|r| ReportRow {
                    user_id: r.user_id,
                    original_username: r.original_username.clone(),
                    original_email: r.original_email.clone(),
                    original_name: r.original_name.clone(),
                    orgs: r.orgs.clone(),
                    created: r.created.clone(),
                })
                .collect(),
        };
        let answer = self.call(|exports, store, instance| match exports {
            Exports::Formatter(indices) => {
                indices.load(&mut *store, instance)?.call_format_report(&mut *store, &request)
            }
            _ => Err(wasmtime::Error::msg("not a formatter")),
        })?;
        let file = answer.map_err(|reason| self.error(Cause::Declined(reason)))?;
        if !is_plain_file_name(&file.file_name) {
            return Err(self.error(Cause::BadOutput(format!("{:?} is not a plain file name", file.file_name))));
        }
        Ok(FormattedReport { file_name: file.file_name, content_type: file.content_type, bytes: file.bytes })
    }
}
