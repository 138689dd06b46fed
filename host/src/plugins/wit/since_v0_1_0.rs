//! Bindings of `userapi:plugins@0.1.0` (`wit/v0.1.0`).

wasmtime::component::bindgen!({
    path: "../wit/v0.1.0",
    world: "all-plugins",
});

/// The WIT package version these bindings serve.
pub const VERSION: &str = "0.1.0";

pub use exports::userapi::plugins::{formatter, validator, visibility};
pub use userapi::plugins::{log, types};
