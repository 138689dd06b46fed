//! Host bindings of the WIT package, one module per version (as Zed's
//! extension host lays them out). Call sites use [`latest`]; a future
//! version is a new module plus a conversion at the edge, not an edit of
//! every caller.

pub mod since_v0_1_0;

pub use since_v0_1_0 as latest;

/// The files of the current WIT package, as plugin authors build against
/// them (`userapi plugin wit`).
pub const LATEST_FILES: &[(&str, &str)] = &[
    ("types.wit", include_str!("../../../../wit/v0.1.0/types.wit")),
    ("worlds.wit", include_str!("../../../../wit/v0.1.0/worlds.wit")),
];

/// The current WIT package as one file: one `package` line, then every
/// file's declarations.
pub fn latest_single_file() -> String {
    let mut out = String::new();
    for (i, (name, text)) in LATEST_FILES.iter().enumerate() {
        let mut lines = text.lines().peekable();
        if i > 0 {
            // The package line is said once, by the first file.
            while lines.peek().is_some_and(|l| l.starts_with("package ") || l.trim().is_empty()) {
                lines.next();
            }
            out.push('\n');
        }
        out.push_str(&format!("// ---- {name}\n"));
        for line in lines {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_file_says_the_package_once() {
        let text = latest_single_file();
        assert_eq!(text.matches("package userapi:plugins@").count(), 1, "{text}");
        for name in ["interface types", "interface validator", "world extended-profile-validator"] {
            assert!(text.contains(name), "{name}");
        }
    }
}
