//! Per-call resource limits: the site's `limits`, with safe defaults and
//! hard ceilings the engine's instance pool is sized for.

use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};

use crate::sites::config::PluginLimits;

/// Wall-clock budget of one call when the site sets none (a call takes
/// tens of microseconds).
pub const DEFAULT_TIMEOUT_MS: u64 = 50;
/// Fuel (roughly, wasm instructions) of one call when the site sets none.
pub const DEFAULT_FUEL: u64 = 200_000_000;
/// Linear memory of one call when the site sets none.
pub const DEFAULT_MEMORY_MIB: u64 = 32;
/// The most linear memory a site may grant; the pool reserves this per slot.
pub const MAX_MEMORY_MIB: u64 = 256;
/// The longest a site may let one call run.
pub const MAX_TIMEOUT_MS: u64 = 10_000;
/// Table elements of one call when the site sets none.
pub const DEFAULT_TABLE_ELEMENTS: u32 = 10_000;
/// Core instances one call may create when the site sets none (a component
/// built by `wasm32-wasip2` needs a handful).
pub const DEFAULT_INSTANCES: u32 = 32;

/// The resolved limits of one plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub timeout_ms: u64,
    pub fuel: u64,
    pub memory_mib: u64,
    pub table_elements: u32,
    pub instances: u32,
}

impl Limits {
    /// Fills in defaults; refuses values beyond the ceilings.
    pub fn resolve(config: &PluginLimits) -> Result<Limits, String> {
        let limits = Limits {
            timeout_ms: config.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS),
            fuel: config.fuel.unwrap_or(DEFAULT_FUEL),
            memory_mib: config.memory_mib.unwrap_or(DEFAULT_MEMORY_MIB),
            table_elements: config.table_elements.unwrap_or(DEFAULT_TABLE_ELEMENTS),
            instances: config.instances.unwrap_or(DEFAULT_INSTANCES),
        };
        if limits.memory_mib == 0 || limits.memory_mib > MAX_MEMORY_MIB {
            return Err(format!("memory_mib must be between 1 and {MAX_MEMORY_MIB}"));
        }
        if limits.timeout_ms == 0 || limits.timeout_ms > MAX_TIMEOUT_MS {
            return Err(format!("timeout_ms must be between 1 and {MAX_TIMEOUT_MS}"));
        }
        if limits.fuel == 0 {
            return Err("fuel must be positive".into());
        }
        Ok(limits)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout_ms: DEFAULT_TIMEOUT_MS,
            fuel: DEFAULT_FUEL,
            memory_mib: DEFAULT_MEMORY_MIB,
            table_elements: DEFAULT_TABLE_ELEMENTS,
            instances: DEFAULT_INSTANCES,
        }
    }
}

/// A store's limiter: wasmtime's [`StoreLimits`], remembering whether it
/// refused memory, so a failure can be reported as "out of memory".
pub struct CallLimiter {
    inner: StoreLimits,
    pub memory_refused: bool,
    /// The most linear memory the call held (bytes), over all its memories' growths.
    pub peak_memory: usize,
}

impl CallLimiter {
    pub fn new(limits: &Limits) -> CallLimiter {
        let inner = StoreLimitsBuilder::new()
            .memory_size(usize::try_from(limits.memory_mib << 20).unwrap_or(usize::MAX))
            .table_elements(usize::try_from(limits.table_elements).unwrap_or(usize::MAX))
            .instances(limits.instances as usize)
            .memories(limits.instances as usize)
            .tables(limits.instances as usize * 4)
            .trap_on_grow_failure(true)
            .build();
        CallLimiter { inner, memory_refused: false, peak_memory: 0 }
    }
}

impl ResourceLimiter for CallLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let allowed = self.inner.memory_growing(current, desired, maximum);
        if matches!(allowed, Ok(true)) {
            self.peak_memory = self.peak_memory.max(desired);
        } else {
            self.memory_refused = true;
        }
        allowed
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}
