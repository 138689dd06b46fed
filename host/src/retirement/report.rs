//! Partner report files: one per org, formatted by the site's
//! partner-report-formatter plugin, else by the built-in [`format_report`].

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::actions::ReportRow;
use crate::clock::iso8601;
use crate::plugins::formatter::ReportEntry;
use crate::plugins::CallError;
use crate::sites::Site;

/// The driver's default columns for an org without `field_headings`.
pub const DEFAULT_HEADINGS: &[&str] =
    &["user_id", "original_username", "original_email", "original_name", "deletion_completed"];

/// A finished report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFile {
    pub file_name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// The rows of each org, with that org's headings: an `orgs_config` entry's
/// `field_headings`, else the defaults.
pub fn group_by_org(site: &Site, rows: &[ReportRow]) -> BTreeMap<String, (Vec<String>, Vec<Value>)> {
    let mut groups: BTreeMap<String, (Vec<String>, Vec<Value>)> = BTreeMap::new();
    for row in rows {
        let object = row.to_json(site);
        for org in &row.orgs {
            let headings = site
                .config
                .orgs_config
                .iter()
                .find(|c| &c.org == org && !c.field_headings.is_empty())
                .map(|c| c.field_headings.clone())
                .unwrap_or_else(|| DEFAULT_HEADINGS.iter().map(|h| (*h).to_owned()).collect());
            groups.entry(org.clone()).or_insert_with(|| (headings, Vec::new())).1.push(object.clone());
        }
    }
    groups
}

/// Every org's report file, in org order. A failing formatter plugin fails
/// only that org's report; the others still come out (plugins.md).
pub fn org_reports(site: &Site, rows: &[ReportRow]) -> Vec<(String, Result<ReportFile, CallError>)> {
    let groups = group_by_org(site, rows);
    let Some(plugin) = &site.plugins.formatter else {
        return groups
            .into_iter()
            .map(|(org, (headings, objects))| {
                let file = format_report(&org, &headings, &objects);
                (org, Ok(file))
            })
            .collect();
    };
    groups
        .into_iter()
        .map(|(org, (headings, _))| {
            let entries: Vec<ReportEntry> = rows
                .iter()
                .filter(|r| r.orgs.contains(&org))
                .map(|r| ReportEntry {
                    user_id: r.user_id,
                    original_username: r.original_username.clone(),
                    original_email: r.original_email.clone(),
                    original_name: r.original_name.clone(),
                    orgs: r.orgs.clone(),
                    created: iso8601(r.created),
                })
                .collect();
            let org_config = site
                .config
                .orgs_config
                .iter()
                .find(|c| c.org == org)
                .map_or(Value::Null, |c| json!({"org": c.org, "field_headings": c.field_headings}));
            let file = plugin.format_report(&org, &org_config, &headings, &entries).map(|f| ReportFile {
                file_name: f.file_name,
                content_type: f.content_type,
                bytes: f.bytes,
            });
            (org, file)
        })
        .collect()
}

/// Built-in formatting: CSV with a heading row; `deletion_completed` is the
/// row's `created`. Text cells are neutralised against formula injection.
pub fn format_report(org: &str, headings: &[String], rows: &[Value]) -> ReportFile {
    let mut writer = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    // Writing into a Vec cannot fail.
    let _ = writer.write_record(headings.iter().map(|h| neutralised(h)));
    for row in rows {
        let cells = headings.iter().map(|h| {
            let key = if h == "deletion_completed" { "created" } else { h.as_str() };
            match row.get(key) {
                Some(Value::String(s)) => neutralised(s),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            }
        });
        let _ = writer.write_record(cells);
    }
    let safe: String = org.chars().map(|c| if c.is_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    let bytes = writer.into_inner().unwrap_or_default();
    ReportFile { file_name: format!("{safe}.csv"), content_type: "text/csv".into(), bytes }
}

/// OWASP's advice against CSV injection: a cell a spreadsheet would read as
/// a formula (`=`, `+`, `-`, `@`, tab or carriage return first) gets a
/// leading `'`, so it is shown as text.
fn neutralised(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn csv_with_headings() {
        let headings =
            vec!["original_username".to_owned(), "original_name".to_owned(), "deletion_completed".to_owned()];
        let rows = vec![
            json!({"original_username": "jdoe", "original_name": "Doe, \"Jane\"", "created": "2018-01-01T00:00:00Z"}),
        ];
        let file = format_report("edX Org", &headings, &rows);
        assert_eq!(file.file_name, "edX_Org.csv");
        assert_eq!(
            String::from_utf8(file.bytes).unwrap(),
            "original_username,original_name,deletion_completed\r\njdoe,\"Doe, \"\"Jane\"\"\",2018-01-01T00:00:00Z\r\n"
        );
    }

    #[test]
    fn formulas_are_neutralised() {
        let headings = vec!["original_name".to_owned(), "original_username".to_owned(), "user_id".to_owned()];
        for (name, cell) in [
            ("=HYPERLINK(\"http://evil.test\",\"x\")", "\"'=HYPERLINK(\"\"http://evil.test\"\",\"\"x\"\")\""),
            ("+1", "'+1"),
            ("-1+2", "'-1+2"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tcmd", "'\tcmd"),
            ("Jane = Doe", "Jane = Doe"),
        ] {
            let rows = vec![json!({"original_name": name, "original_username": "u", "user_id": -3})];
            let file = String::from_utf8(format_report("o", &headings, &rows).bytes).unwrap();
            assert_eq!(file.lines().nth(1), Some(format!("{cell},u,-3").as_str()), "{name}");
        }
    }
}
