//! `userapi plugin check FILE.wasm`.

use std::path::Path;
use std::process::ExitCode;

use crate::plugins::check::check_file;

/// Prints which worlds the component implements; exit 1 if none.
pub fn check(file: &Path) -> ExitCode {
    match check_file(file) {
        Ok(report) => {
            print!("{}", report.render(file));
            if report.is_plugin() {
                ExitCode::SUCCESS
            } else {
                println!("not a userapi plugin: it implements none of the worlds above");
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            println!("not a userapi plugin: {e}");
            ExitCode::FAILURE
        }
    }
}
