//! A validator built against a newer WIT version (`userapi:plugins@0.2.0`),
//! for the host's load tests. Never deploy it.

wit_bindgen::generate!({
    path: "wit",
    world: "extended-profile-validator",
});

struct Future;

impl exports::userapi::plugins::validator::Guest for Future {
    fn validate(_username: String, fields: Vec<(String, String)>) -> bool {
        fields.is_empty()
    }
}

export!(Future);
