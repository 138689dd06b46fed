//! One plugin call, end to end inside the host: fresh store, instantiate
//! from the pre-instantiated component, call, drop. Also the pieces, to see
//! where the time goes. `cargo bench -p userapi --bench plugin_calls`.

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::{json, Value};
use userapi::plugins::visibility::{FieldLists, ReaderKind, VisibilityFacts};
use userapi::plugins::{Plugin, Slot};
use userapi::sites::config::{PluginLimits, VisibilityConfig};

fn load(slot: Slot, file: &str, config: Value) -> Plugin {
    let path = std::path::Path::new(env!("USERAPI_PLUGIN_DIR")).join(file);
    Plugin::load("bench", slot, &path, &config, &PluginLimits::default()).expect("example plugin loads")
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn plugin_calls(c: &mut Criterion) {
    let validator = load(
        Slot::Validator,
        "profile_validator.wasm",
        json!({"fields": [
            {"name": "employer", "type": "text", "max_length": 100},
            {"name": "graduation_year", "type": "integer", "min": 1900, "max": 2100},
            {"name": "favorite_color", "type": "choice", "choices": ["red", "green", "blue"]}
        ]}),
    );
    let submitted = vec![
        ("employer".to_owned(), json!("  ACME Corp ")),
        ("graduation_year".to_owned(), json!("2012")),
        ("favorite_color".to_owned(), json!("Green")),
    ];
    let stored = vec![("employer".to_owned(), json!("Old Corp"))];
    c.bench_function("validator call (instantiate + call + drop)", |b| {
        b.iter(|| validator.validate("jdoe", &submitted, &stored).expect("call succeeds"))
    });

    let policy = load(Slot::Visibility, "visibility_policy.wasm", json!({"same_org_fields": ["name", "country"]}));
    let fields = VisibilityConfig::default();
    let facts = VisibilityFacts {
        reader: ReaderKind::User,
        reader_username: Some("reader"),
        reader_orgs: strings(&["MITx"]),
        owner: "owner",
        owner_orgs: strings(&["MITx", "HarvardX"]),
        account_privacy: "custom",
        field_preferences: vec![("bio", "all_users"), ("country", "private")],
        requires_parental_consent: false,
    };
    let lists = FieldLists {
        public: &fields.public_fields,
        bulk_shareable: &fields.bulk_shareable_fields,
        custom_shareable: &fields.custom_shareable_fields,
    };
    c.bench_function("visibility call (instantiate + call + drop)", |b| {
        b.iter(|| policy.visible_fields(&facts, lists).expect("call succeeds"))
    });
    c.bench_function("instantiate + drop only (visibility component)", |b| {
        b.iter(|| policy.instantiate_only().expect("instantiates"))
    });

    // The same call as the server makes it: from a task on a multi-threaded
    // runtime, run in place on the worker (its deadline is the default 50 ms).
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let policy = std::sync::Arc::new(policy);
    let owned = (fields.clone(), strings(&["MITx"]), strings(&["MITx", "HarvardX"]));
    c.bench_function("visibility call from an async task (in place)", |b| {
        b.iter(|| {
            let (policy, (fields, reader_orgs, owner_orgs)) = (policy.clone(), owned.clone());
            runtime.block_on(runtime.spawn(async move {
                let facts = VisibilityFacts {
                    reader: ReaderKind::User,
                    reader_username: Some("reader"),
                    reader_orgs,
                    owner: "owner",
                    owner_orgs,
                    account_privacy: "custom",
                    field_preferences: vec![("bio", "all_users")],
                    requires_parental_consent: false,
                };
                let lists = FieldLists {
                    public: &fields.public_fields,
                    bulk_shareable: &fields.bulk_shareable_fields,
                    custom_shareable: &fields.custom_shareable_fields,
                };
                policy.visible_fields(&facts, lists).expect("call succeeds")
            }))
        })
    });
    c.bench_function("empty async task (baseline for the above)", |b| {
        b.iter(|| runtime.block_on(runtime.spawn(async { std::hint::black_box(1) })))
    });
}

criterion_group!(benches, plugin_calls);
criterion_main!(benches);
