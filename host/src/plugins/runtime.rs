//! The process's one wasmtime engine: pooling allocator, fuel and epoch
//! interruption, the on-disk compilation cache, and the linker every plugin
//! is instantiated through. Components are compiled once per process (and
//! per content hash), whatever the number of sites that name them.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::{Cache, CacheConfig, Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::limits::MAX_MEMORY_MIB;
use super::state::CallState;
use super::wit::latest;

/// How often the epoch advances; call deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(2);
/// Plugin instances alive at once, process-wide; a call beyond that fails
/// as "busy" rather than queueing unboundedly.
pub const MAX_CONCURRENT_INSTANCES: u32 = 128;
/// Linear memory per pool slot reset by memset rather than madvise.
const KEEP_RESIDENT_BYTES: usize = 1 << 20;
/// Table bytes per pool slot reset by memset rather than madvise.
const KEEP_RESIDENT_TABLE_BYTES: usize = 64 << 10;
/// Decommits gathered before one batch of madvise calls.
const DECOMMIT_BATCH: usize = 16;
/// Environment variable naming the compilation cache directory; `off`
/// disables the cache. Default: `$XDG_CACHE_HOME/userapi/wasmtime` or
/// `$HOME/.cache/userapi/wasmtime`.
pub const CACHE_DIR_VAR: &str = "USERAPI_PLUGIN_CACHE_DIR";

/// The engine, its linker and the compiled components.
pub struct Runtime {
    pub engine: Engine,
    pub linker: Linker<CallState>,
    compiled: Mutex<HashMap<[u8; 32], Component>>,
}

/// Plugin calls running now (each holds one instance of the pool).
static IN_USE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Plugin instances in use and the pool's capacity, for `/metrics`.
pub fn pool_usage() -> (u64, u64) {
    (IN_USE.load(std::sync::atomic::Ordering::Relaxed), u64::from(MAX_CONCURRENT_INSTANCES))
}

/// Counts one running call in [`pool_usage`] while it lives.
pub(crate) struct InstanceSlot;

impl InstanceSlot {
    pub(crate) fn take() -> InstanceSlot {
        IN_USE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        InstanceSlot
    }
}

impl Drop for InstanceSlot {
    fn drop(&mut self) {
        IN_USE.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The process's runtime, created on first use (a process without plugins
/// never builds it).
pub fn runtime() -> Result<&'static Runtime, String> {
    static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();
    RUNTIME.get_or_init(Runtime::new).as_ref().map_err(Clone::clone)
}

impl Runtime {
    fn new() -> Result<Runtime, String> {
        let mut config = Config::new();
        config.wasm_component_model(true).epoch_interruption(true).consume_fuel(true);
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(MAX_CONCURRENT_INSTANCES)
            .total_core_instances(MAX_CONCURRENT_INSTANCES * 8)
            .total_memories(MAX_CONCURRENT_INSTANCES * 2)
            .total_tables(MAX_CONCURRENT_INSTANCES * 8)
            .max_memory_size(usize::try_from(MAX_MEMORY_MIB << 20).unwrap_or(usize::MAX))
            // A fresh instance per call spends most of its time faulting pages
            // in and madvise-ing them out again. Zeroing the first MiB with
            // memset instead (plugins are linked with a 64 KiB stack, see
            // .cargo/config.toml, so that covers what a call touches) and
            // batching the remaining decommits took a validator call from
            // ~45 µs to ~16 µs (benches/plugin_calls.rs).
            .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
            .table_keep_resident(KEEP_RESIDENT_TABLE_BYTES)
            .decommit_batch_size(DECOMMIT_BATCH);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        if let Some(dir) = cache_dir() {
            match Cache::new(CacheConfig::new().with_directory(&dir).clone()) {
                Ok(cache) => {
                    config.cache(Some(cache));
                }
                Err(e) => tracing::warn!(dir = %dir.display(), "plugin compilation cache disabled: {e}"),
            }
        }
        let engine = Engine::new(&config).map_err(|e| format!("cannot start the WebAssembly engine: {e}"))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .and_then(|()| super::guest_io::relink(&mut linker))
            .map_err(|e| format!("cannot link WASI into the plugin engine: {e}"))?;
        latest::log::add_to_linker::<CallState, wasmtime::component::HasSelf<CallState>>(&mut linker, |s| s)
            .map_err(|e| format!("cannot link the log import: {e}"))?;
        let ticker = engine.weak();
        std::thread::Builder::new()
            .name("plugin-epoch".into())
            .spawn(move || {
                while let Some(engine) = ticker.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })
            .map_err(|e| format!("cannot start the plugin epoch thread: {e}"))?;
        Ok(Runtime { engine, linker, compiled: Mutex::new(HashMap::new()) })
    }

    /// Compiles `bytes` (or returns the component compiled from the same bytes before).
    pub fn compile(&self, bytes: &[u8]) -> Result<Component, String> {
        let hash: [u8; 32] = Sha256::digest(bytes).into();
        if let Some(found) = self.compiled.lock().ok().and_then(|c| c.get(&hash).cloned()) {
            return Ok(found);
        }
        let component = Component::new(&self.engine, bytes).map_err(|e| format!("{e:#}"))?;
        if let Ok(mut compiled) = self.compiled.lock() {
            compiled.insert(hash, component.clone());
        }
        Ok(component)
    }
}

fn cache_dir() -> Option<PathBuf> {
    match std::env::var_os(CACHE_DIR_VAR) {
        Some(v) if v == "off" => None,
        Some(v) if !v.is_empty() => Some(PathBuf::from(v)),
        _ => std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .map(|base| base.join("userapi").join("wasmtime")),
    }
}
