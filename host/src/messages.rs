//! Open edX's message vocabulary, shared by the domains and rendered by the
//! HTTP layer: a developer/user message pair, and field errors keyed by field.

use std::collections::BTreeMap;

use serde_json::{json, Value};

/// A developer/user message pair (errors.md §1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessagePair {
    pub developer_message: String,
    pub user_message: Option<String>,
}

impl MessagePair {
    /// A pair whose two messages are the same text.
    pub fn same(text: impl Into<String>) -> Self {
        let text = text.into();
        MessagePair { developer_message: text.clone(), user_message: Some(text) }
    }

    /// `{"developer_message": …, "user_message": …}`.
    pub fn to_json(&self) -> Value {
        json!({"developer_message": self.developer_message, "user_message": self.user_message})
    }
}

/// Field errors, keyed by field.
pub type FieldErrors = BTreeMap<String, MessagePair>;
