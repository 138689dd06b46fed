//! One loaded plugin: its component checked against the world of its slot,
//! pre-instantiated, and called with a fresh store per call.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;
use wasmtime::component::{Component, Instance, InstancePre};
use wasmtime::{Store, Trap};

use super::limits::Limits;
use super::runtime::{self, runtime, Runtime, EPOCH_TICK};
use super::state::CallState;
use super::wit::latest::{self, formatter, validator, visibility};
use super::{CallError, Cause, Slot};
use crate::sites::config::PluginLimits;

/// The typed export handles of a plugin's interface.
pub(crate) enum Exports {
    Validator(validator::GuestIndices),
    Visibility(visibility::GuestIndices),
    Formatter(formatter::GuestIndices),
}

/// A plugin ready to be called.
pub struct Plugin {
    /// The slot it fills.
    pub slot: Slot,
    /// Its name in logs and errors: the file stem.
    pub name: String,
    /// The site that loaded it.
    pub site: String,
    /// The component file.
    pub path: PathBuf,
    /// The site's plugin `config`, as JSON text.
    pub config: String,
    pub limits: Limits,
    pre: InstancePre<CallState>,
    pub(crate) exports: Exports,
}

impl fmt::Debug for Plugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plugin")
            .field("slot", &self.slot)
            .field("name", &self.name)
            .field("site", &self.site)
            .field("path", &self.path)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// What one call used, as `userapi plugin run` reports it.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CallStats {
    pub fuel_used: u64,
    pub peak_memory_bytes: u64,
    #[serde(rename = "wall_ms", serialize_with = "as_millis")]
    pub wall: std::time::Duration,
    /// The lines the call wrote through the `log` import.
    pub logs: Vec<String>,
}

fn as_millis<S: serde::Serializer>(d: &std::time::Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

thread_local! {
    static LAST_CALL: std::cell::RefCell<Option<CallStats>> = const { std::cell::RefCell::new(None) };
}

/// What the last plugin call made on this thread used (calls run on their
/// caller's thread), for diagnostics such as `userapi plugin run`.
pub fn last_call_stats() -> Option<CallStats> {
    LAST_CALL.with(|last| last.borrow_mut().take())
}

/// Reads and compiles a component file.
pub fn compile_file(path: &Path) -> Result<(&'static Runtime, Component), String> {
    let runtime = runtime()?;
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    // A core module starts with version 1; a component with 0x0d and layer 1.
    if bytes.starts_with(b"\0asm\x01\0\0\0") {
        return Err(format!(
            "{} is a core WebAssembly module, not a component: build the plugin for the wasm32-wasip2 \
             target (`cargo build --target wasm32-wasip2`), or wrap the module with `wasm-tools component new`",
            path.display()
        ));
    }
    let component = runtime
        .compile(&bytes)
        .map_err(|e| format!("{} is not a WebAssembly component this host can run: {e}", path.display()))?;
    Ok((runtime, component))
}

/// Why `component` cannot fill `slot`, or its pre-instantiated form and exports.
pub(crate) fn bind(
    runtime: &Runtime,
    component: &Component,
    slot: Slot,
) -> Result<(InstancePre<CallState>, Exports), String> {
    let wanted = slot.export_name();
    let exports: Vec<String> =
        component.component_type().exports(&runtime.engine).map(|(name, _)| name.to_owned()).collect();
    if !exports.contains(&wanted) {
        let unversioned = wanted.split('@').next().unwrap_or_default();
        let message = match exports.iter().find(|e| e.split('@').next() == Some(unversioned)) {
            Some(other) => format!(
                "it exports `{other}`, a WIT version this host cannot serve (it serves userapi:plugins@{}); rebuild it against that version",
                latest::VERSION
            ),
            None if exports.is_empty() => format!("it exports nothing; the {} world needs `{wanted}`", slot.world()),
            None => format!(
                "the {} world needs the export `{wanted}`, which is missing (it exports: {})",
                slot.world(),
                exports.join(", ")
            ),
        };
        return Err(message);
    }
    let pre = runtime.linker.instantiate_pre(component).map_err(|e| format!("it cannot be linked: {e:#}"))?;
    let mismatch = |e: wasmtime::Error| format!("its export `{wanted}` does not match the interface: {e:#}");
    let exports = match slot {
        Slot::Validator => Exports::Validator(validator::GuestIndices::new(&pre).map_err(mismatch)?),
        Slot::Visibility => Exports::Visibility(visibility::GuestIndices::new(&pre).map_err(mismatch)?),
        Slot::Formatter => Exports::Formatter(formatter::GuestIndices::new(&pre).map_err(mismatch)?),
    };
    Ok((pre, exports))
}

impl Plugin {
    /// Loads the component at `path` for `slot` of `site`, or says why it cannot serve.
    pub fn load(site: &str, slot: Slot, path: &Path, config: &Value, limits: &PluginLimits) -> Result<Plugin, String> {
        let limits = Limits::resolve(limits)?;
        let (runtime, component) = compile_file(path)?;
        let (pre, exports) = bind(runtime, &component, slot)
            .map_err(|e| format!("{} does not implement the {} world: {e}", path.display(), slot.world()))?;
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "plugin".into());
        Ok(Plugin {
            slot,
            name,
            site: site.to_owned(),
            path: path.to_path_buf(),
            config: config.to_string(),
            limits,
            pre,
            exports,
        })
    }

    /// Runs `f` against a fresh instance in a fresh store, within the limits.
    pub(crate) fn call<R: Send>(
        &self,
        f: impl FnOnce(&Exports, &mut Store<CallState>, &Instance) -> wasmtime::Result<R> + Send,
    ) -> Result<R, CallError> {
        let run = || {
            let _slot = runtime::InstanceSlot::take();
            let mut store = Store::new(self.pre.engine(), CallState::new(&self.site, &self.name, &self.limits));
            store.limiter(|state| &mut state.limiter);
            let ticks = self.limits.timeout_ms.div_ceil(EPOCH_TICK.as_millis() as u64).max(1) + 1;
            store.set_epoch_deadline(ticks);
            store.set_fuel(self.limits.fuel).map_err(|e| self.error(Cause::Trap(e.to_string())))?;
            let started = std::time::Instant::now();
            let result = self.pre.instantiate(&mut store).and_then(|instance| f(&self.exports, &mut store, &instance));
            store.data_mut().log_output();
            let stats = CallStats {
                fuel_used: self.limits.fuel.saturating_sub(store.get_fuel().unwrap_or(0)),
                peak_memory_bytes: store.data().limiter.peak_memory as u64,
                wall: started.elapsed(),
                logs: std::mem::take(&mut store.data_mut().logged),
            };
            LAST_CALL.with(|last| *last.borrow_mut() = Some(stats));
            result.map_err(|e| self.error(self.classify(&e, &store)))
        };
        if self.limits.timeout_ms <= IN_PLACE_MAX_MS {
            run()
        } else {
            hand_off(run)
        }
    }

    /// Instantiates in a fresh store and drops it, calling nothing (the
    /// fixed part of every call's cost; for benchmarks).
    #[doc(hidden)]
    pub fn instantiate_only(&self) -> Result<(), CallError> {
        self.call(|_, _, _| Ok(()))
    }

    /// An error about this plugin.
    pub(crate) fn error(&self, cause: Cause) -> CallError {
        CallError { site: self.site.clone(), plugin: self.name.clone(), slot: self.slot, cause }
    }

    fn classify(&self, error: &wasmtime::Error, store: &Store<CallState>) -> Cause {
        if store.data().limiter.memory_refused {
            return Cause::Memory(self.limits.memory_mib);
        }
        match error.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => Cause::Fuel(self.limits.fuel),
            Some(Trap::Interrupt) => Cause::Timeout(self.limits.timeout_ms),
            Some(trap) => {
                let stderr = store.data().stderr();
                if stderr.is_empty() {
                    Cause::Trap(trap.to_string())
                } else {
                    Cause::Trap(format!("{trap} ({stderr})"))
                }
            }
            None => {
                let message = format!("{error:#}");
                if message.contains("maximum concurrent") {
                    Cause::Busy
                } else {
                    Cause::Trap(message)
                }
            }
        }
    }
}

/// The longest deadline a call may run under on the async worker itself. A
/// call is CPU work bounded by its epoch deadline and fuel, and the guest's
/// WASI streams never wait (guest_io.rs), so running it in place is safe and
/// saves the hand-off (~10 µs per call in the `plugin_calls` bench).
/// But the worker's other tasks wait meanwhile (the one in its LIFO slot
/// cannot be stolen), so a site that allows longer calls pays the hand-off.
const IN_PLACE_MAX_MS: u64 = 100;

/// Runs `f` with the worker's other tasks moved to another thread meanwhile
/// (`block_in_place`), on the multi-threaded runtime; in place elsewhere.
fn hand_off<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}
