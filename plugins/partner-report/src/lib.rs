//! A partner-report formatter: CSV with the org's `field_headings` (as the
//! built-in report), or JSON Lines, chosen by the plugin `config`:
//!
//! ```json
//! {"format": "csv", "delimiter": ";", "file_prefix": "retired-"}
//! {"format": "jsonl"}
//! ```
//!
//! Columns: `user_id`, `original_username`, `original_email`,
//! `original_name`, `orgs` (joined with `|`), `created` and its alias
//! `deletion_completed`; an unknown heading gives an empty cell.

mod format;

use userapi_plugin_sdk::formatter::{Guest, ReportFile, ReportRequest};

/// The plugin (exported from the component).
pub struct Formatter;

impl Guest for Formatter {
    fn format_report(request: ReportRequest) -> Result<ReportFile, String> {
        format::format_report(&request)
    }
}

userapi_plugin_sdk::export_formatter!(Formatter);
