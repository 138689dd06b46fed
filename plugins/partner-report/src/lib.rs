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

wit_bindgen::generate!({
    path: "../../wit/v0.1.0",
    world: "partner-report-formatter",
});

use exports::userapi::plugins::formatter::{Guest, ReportRequest};
use userapi::plugins::types::ReportFile;

struct Formatter;

impl Guest for Formatter {
    fn format_report(request: ReportRequest) -> Result<ReportFile, String> {
        format::format_report(&request)
    }
}

export!(Formatter);
