//! What one call's store holds: its limiter, the `log` import, and a WASI
//! context that grants nothing and is only built if the guest touches WASI.

use std::time::Duration;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::guest_io::GuestOutput;
use super::limits::{CallLimiter, Limits};
use super::wit::latest::log::{Host as LogHost, Level};

/// Most log lines one call may write; the rest are dropped.
const MAX_LOG_LINES: u32 = 64;
/// Longest log line kept (bytes); longer ones are cut.
const MAX_LOG_LINE: usize = 2048;
/// How much of each of the guest's stdout and stderr is kept (the rest is
/// counted and dropped).
const OUTPUT_CAPACITY: usize = 4096;

/// The store data of one plugin call.
pub struct CallState {
    pub site: String,
    pub plugin: String,
    pub limiter: CallLimiter,
    table: ResourceTable,
    /// Built on the guest's first WASI call: most calls never make one, and
    /// building it (random seeds, clocks) is most of a call's cost.
    wasi: Option<WasiCtx>,
    /// The guest's stdout and stderr, made with the WASI context.
    output: Option<(GuestOutput, GuestOutput)>,
    log_lines: u32,
    /// The lines the call logged (within the limits above), for `plugin run`.
    pub logged: Vec<String>,
}

impl CallState {
    pub fn new(site: &str, plugin: &str, limits: &Limits) -> CallState {
        CallState {
            site: site.to_owned(),
            plugin: plugin.to_owned(),
            limiter: CallLimiter::new(limits),
            table: ResourceTable::new(),
            wasi: None,
            output: None,
            log_lines: 0,
            logged: Vec::new(),
        }
    }

    /// What the guest wrote to stderr (a Rust guest's panic message), on one line.
    pub fn stderr(&self) -> String {
        let Some((_, stderr)) = &self.output else { return String::new() };
        let text = String::from_utf8_lossy(&stderr.contents()).into_owned();
        let lines: Vec<&str> =
            text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("note: run with")).collect();
        lines.join(" ")
    }

    /// Moves what the guest printed into the plugin's log: each kept line of
    /// stdout and stderr at debug level, and how much was dropped.
    pub fn log_output(&mut self) {
        // Without a WASI context the guest never printed anything.
        let Some((stdout, stderr)) = self.output.clone() else { return };
        for (name, stream) in [("stdout", stdout), ("stderr", stderr)] {
            let text = String::from_utf8_lossy(&stream.contents()).into_owned();
            let (site, plugin) = (self.site.as_str(), self.plugin.as_str());
            for line in text.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
                tracing::debug!(site, plugin, stream = name, "{line}");
                if self.logged.len() < MAX_LOG_LINES as usize {
                    self.logged.push(format!("{name}: {line}"));
                }
            }
            let dropped = stream.dropped();
            if dropped > 0 {
                tracing::debug!(site, plugin, stream = name, dropped, "plugin output beyond the kept part dropped");
                self.logged.push(format!("{name}: … {dropped} more bytes dropped"));
            }
        }
    }

    /// The call's resource table (the guest's streams and pollables).
    pub(super) fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let mut made = None;
        // No preopened directories, environment, arguments, stdin, network or
        // clock (both clocks read zero): a plugin has no ambient authority.
        // Randomness stays, for std's hash-map seeds.
        let ctx = self.wasi.get_or_insert_with(|| {
            let (stdout, stderr) = (GuestOutput::new(OUTPUT_CAPACITY), GuestOutput::new(OUTPUT_CAPACITY));
            let mut builder = WasiCtxBuilder::new();
            builder
                .stdout(stdout.clone())
                .stderr(stderr.clone())
                .allow_ip_name_lookup(false)
                .allow_tcp(false)
                .allow_udp(false)
                .wall_clock(FrozenClock)
                .monotonic_clock(FrozenClock);
            made = Some((stdout, stderr));
            builder.build()
        });
        if made.is_some() {
            self.output = made;
        }
        WasiCtxView { ctx, table: &mut self.table }
    }
}

/// A clock stopped at zero (the Unix epoch; no elapsed time).
struct FrozenClock;

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }

    fn now(&self) -> u64 {
        0
    }
}

impl LogHost for CallState {
    fn write(&mut self, level: Level, message: String) {
        self.log_lines += 1;
        if self.log_lines > MAX_LOG_LINES {
            return;
        }
        let mut message = message;
        if message.len() > MAX_LOG_LINE {
            let mut end = MAX_LOG_LINE;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
        }
        let (site, plugin) = (self.site.as_str(), self.plugin.as_str());
        let name = match level {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        };
        self.logged.push(format!("{name}: {message}"));
        match level {
            Level::Trace => tracing::trace!(site, plugin, "{message}"),
            Level::Debug => tracing::debug!(site, plugin, "{message}"),
            Level::Info => tracing::info!(site, plugin, "{message}"),
            Level::Warn => tracing::warn!(site, plugin, "{message}"),
            Level::Error => tracing::error!(site, plugin, "{message}"),
        }
    }
}
