//! `userapi plugin check`: which worlds a component implements, and why not
//! the others.

use std::path::Path;

use super::plugin::{bind, compile_file};
use super::wit::latest;
use super::Slot;

/// What a component offers.
#[derive(Debug)]
pub struct CheckReport {
    /// Every export name of the component.
    pub exports: Vec<String>,
    /// Per world: implemented, or why not.
    pub worlds: Vec<(Slot, Result<(), String>)>,
}

impl CheckReport {
    /// Whether it can fill at least one slot.
    pub fn is_plugin(&self) -> bool {
        self.worlds.iter().any(|(_, r)| r.is_ok())
    }

    /// The report as printed by the CLI.
    pub fn render(&self, path: &Path) -> String {
        let mut out = format!(
            "{}: a WebAssembly component exporting {}\n",
            path.display(),
            if self.exports.is_empty() { "nothing".to_owned() } else { self.exports.join(", ") }
        );
        for (slot, outcome) in &self.worlds {
            let world = format!("userapi:plugins/{}@{}", slot.world(), latest::VERSION);
            match outcome {
                Ok(()) => out.push_str(&format!("  implements {world} (site slot \"{}\")\n", slot.config_key())),
                Err(why) => out.push_str(&format!("  does not implement {world}: {why}\n")),
            }
        }
        out
    }
}

/// Compiles `path` and checks it against every world this host serves.
pub fn check_file(path: &Path) -> Result<CheckReport, String> {
    let (runtime, component) = compile_file(path)?;
    let exports = component.component_type().exports(&runtime.engine).map(|(n, _)| n.to_owned()).collect();
    let worlds = Slot::ALL.iter().map(|slot| (*slot, bind(runtime, &component, *slot).map(|_| ()))).collect();
    Ok(CheckReport { exports, worlds })
}
