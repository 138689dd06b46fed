//! The formats, kept free of WIT plumbing so native tests can drive them.

use serde_json::{Map, Value};

use userapi_plugin_sdk::formatter::{ReportFile, ReportRequest, ReportRow};

/// One cell of a row under `heading`.
fn cell(row: &ReportRow, heading: &str) -> Value {
    match heading {
        "user_id" => Value::from(row.user_id),
        "original_username" => Value::from(row.original_username.clone()),
        "original_email" => Value::from(row.original_email.clone()),
        "original_name" => Value::from(row.original_name.clone()),
        "orgs" => Value::from(row.orgs.join("|")),
        "created" | "deletion_completed" => Value::from(row.created.clone()),
        _ => Value::Null,
    }
}

/// OWASP's advice against CSV injection: a text cell a spreadsheet would
/// read as a formula (`=`, `+`, `-`, `@`, tab or carriage return first) gets
/// a leading `'`, so it is shown as text.
fn neutralised(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

/// The CSV file: a heading row, then one row per entry, CRLF-terminated.
fn csv_bytes(request: &ReportRequest, delimiter: u8) -> Result<Vec<u8>, String> {
    let mut writer =
        csv::WriterBuilder::new().delimiter(delimiter).terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    let failed = |e: csv::Error| format!("could not write CSV: {e}");
    writer.write_record(request.headings.iter().map(|h| neutralised(h))).map_err(failed)?;
    for row in &request.rows {
        let cells = request.headings.iter().map(|h| match cell(row, h) {
            Value::String(s) => neutralised(&s),
            Value::Null => String::new(),
            other => other.to_string(),
        });
        writer.write_record(cells).map_err(failed)?;
    }
    writer.into_inner().map_err(|e| format!("could not write CSV: {e}"))
}

fn safe_name(org: &str) -> String {
    org.chars().map(|c| if c.is_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

/// Formats one org's report as the config asks.
pub fn format_report(request: &ReportRequest) -> Result<ReportFile, String> {
    let config: Value = serde_json::from_str(&request.config).unwrap_or(Value::Null);
    let prefix = config.get("file_prefix").and_then(Value::as_str).unwrap_or("");
    if prefix.contains(['/', '\\']) {
        return Err(format!("file_prefix {prefix:?} must not contain a path separator"));
    }
    let stem = format!("{prefix}{}", safe_name(&request.org));
    match config.get("format").and_then(Value::as_str).unwrap_or("csv") {
        "csv" => {
            let delimiter = match config.get("delimiter").and_then(Value::as_str) {
                None => b',',
                Some(d) if d.len() == 1 && d.is_ascii() => d.as_bytes()[0],
                Some(d) => return Err(format!("delimiter {d:?} must be one ASCII character")),
            };
            Ok(ReportFile {
                file_name: format!("{stem}.csv"),
                content_type: "text/csv".into(),
                bytes: csv_bytes(request, delimiter)?,
            })
        }
        "jsonl" => {
            let mut out = String::new();
            for row in &request.rows {
                let object: Map<String, Value> = request.headings.iter().map(|h| (h.clone(), cell(row, h))).collect();
                out.push_str(&Value::Object(object).to_string());
                out.push('\n');
            }
            Ok(ReportFile {
                file_name: format!("{stem}.jsonl"),
                content_type: "application/x-ndjson".into(),
                bytes: out.into_bytes(),
            })
        }
        other => Err(format!("unknown format {other:?} (expected \"csv\" or \"jsonl\")")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(config: &str) -> ReportRequest {
        ReportRequest {
            config: config.into(),
            org: "Open edX/Org".into(),
            org_config: "null".into(),
            headings: vec!["original_username".into(), "original_name".into(), "deletion_completed".into()],
            rows: vec![ReportRow {
                user_id: 7,
                original_username: "jdoe".into(),
                original_email: "jdoe@example.com".into(),
                original_name: "Doe; \"Jane\"".into(),
                orgs: vec!["Open edX/Org".into()],
                created: "2026-01-02T03:04:05Z".into(),
            }],
        }
    }

    #[test]
    fn csv_by_default() {
        let file = format_report(&request("null")).unwrap();
        assert_eq!(file.file_name, "Open_edX_Org.csv");
        assert_eq!(
            String::from_utf8(file.bytes).unwrap(),
            "original_username,original_name,deletion_completed\r\njdoe,\"Doe; \"\"Jane\"\"\",2026-01-02T03:04:05Z\r\n"
        );
    }

    #[test]
    fn csv_with_another_delimiter_quotes_it() {
        let file = format_report(&request(r#"{"delimiter": ";", "file_prefix": "retired-"}"#)).unwrap();
        assert_eq!(file.file_name, "retired-Open_edX_Org.csv");
        assert!(String::from_utf8(file.bytes).unwrap().contains("jdoe;\"Doe; \"\"Jane\"\"\";2026"));
    }

    #[test]
    fn formulas_are_neutralised() {
        let mut req = request("null");
        req.rows[0].original_name = "=HYPERLINK(\"http://evil.test\")".into();
        req.rows[0].original_username = "@cmd".into();
        let text = String::from_utf8(format_report(&req).unwrap().bytes).unwrap();
        assert_eq!(text.lines().nth(1), Some("'@cmd,\"'=HYPERLINK(\"\"http://evil.test\"\")\",2026-01-02T03:04:05Z"));
        assert!(format_report(&request(r#"{"delimiter": "é"}"#)).is_err());
    }

    #[test]
    fn json_lines_variant() {
        let file = format_report(&request(r#"{"format": "jsonl"}"#)).unwrap();
        assert_eq!(file.content_type, "application/x-ndjson");
        let line: Value = serde_json::from_slice(file.bytes.strip_suffix(b"\n").unwrap()).unwrap();
        assert_eq!(line["original_name"], "Doe; \"Jane\"");
        assert_eq!(line["deletion_completed"], "2026-01-02T03:04:05Z");
    }

    #[test]
    fn a_bad_config_is_an_error() {
        assert!(format_report(&request(r#"{"format": "xml"}"#)).unwrap_err().contains("xml"));
        assert!(format_report(&request(r#"{"file_prefix": "../x"}"#)).is_err());
    }
}
