//! An extended-profile validator: typed fields, allowed values and
//! normalisation, all chosen per site by the plugin `config`:
//!
//! ```json
//! {
//!   "allow_unknown": false,
//!   "fields": [
//!     {"name": "employer", "label": "Employer", "type": "text", "max_length": 100},
//!     {"name": "graduation_year", "type": "integer", "min": 1900, "max": 2100},
//!     {"name": "favorite_color", "type": "choice", "choices": ["red", "green", "blue"]},
//!     {"name": "newsletter", "type": "boolean", "required": true},
//!     {"name": "website", "type": "url"},
//!     {"name": "birthday", "type": "date"}
//!   ]
//! }
//! ```
//!
//! Text is trimmed (and `"case": "lower"|"upper"` applied); integers and
//! numbers accept numeric strings; booleans accept `"yes"/"no"/"true"/"false"`;
//! choices match case-insensitively and store the canonical value; URLs must
//! be http(s); dates are `YYYY-MM-DD`. `null` clears a field unless it is
//! required.

mod rules;

use userapi_plugin_sdk::validator::{Field, FieldDescription, FieldError, Guest, ValidationRequest};

/// The plugin (exported from the component).
pub struct Validator;

impl Guest for Validator {
    fn validate(request: ValidationRequest) -> Result<Vec<Field>, Vec<FieldError>> {
        rules::validate(&request)
    }

    fn describe(config: String) -> Vec<FieldDescription> {
        rules::describe(&config)
    }
}

userapi_plugin_sdk::export_validator!(Validator);
