//! Host bindings of the WIT package, one module per version (as Zed's
//! extension host lays them out). Call sites use [`latest`]; a future
//! version is a new module plus a conversion at the edge, not an edit of
//! every caller.

pub mod since_v0_1_0;

pub use since_v0_1_0 as latest;
