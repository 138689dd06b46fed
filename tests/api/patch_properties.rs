//! Property test: random merge-patch bodies (wrong types, nulls, huge
//! strings, unknown fields, unicode) never get a 5xx, and a refused PATCH
//! leaves the account exactly as it was.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};

use crate::harness::*;

const CASES: u32 = 1500;

const FIELDS: &[&str] = &[
    "name",
    "bio",
    "gender",
    "country",
    "state",
    "year_of_birth",
    "goals",
    "mailing_address",
    "city",
    "level_of_education",
    "phone_number",
    "language_proficiencies",
    "social_links",
    "account_privacy",
    "extended_profile",
    "email",
    "secondary_email",
    "username",
    "is_active",
    "profile_image",
    "time_zone",
    "id",
];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| json!(i)),
        (-1e20f64..1e20).prop_map(|f| json!(f)),
        "\\PC{0,40}".prop_map(Value::String),
        prop::sample::select(vec![
            "",
            " ",
            "US",
            "us",
            "f",
            "m",
            "hs",
            "en",
            "1990",
            "all_users",
            "private",
            "custom",
            "a@b.co",
            "x@example.com"
        ])
        .prop_map(|s| Value::String(s.to_owned())),
        (1usize..6000).prop_map(|n| Value::String("é".repeat(n))),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop::sample::select(vec!["code", "platform", "social_link", "field_name", "field_value", "x"]),
                    inner
                ),
                0..4
            )
            .prop_map(|pairs| Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

fn body() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        4 => prop::sample::select(FIELDS.to_vec()).prop_map(str::to_owned),
        1 => "\\PC{0,12}",
    ];
    prop::collection::vec((key, value()), 0..6)
        .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>()))
}

fn run(backend: Backend) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (server, token) = rt.block_on(async {
        let server = TestServer::start(backend).await;
        server.create_user("alpha", "alice", &[]).await;
        let token = server.token("alpha", "alice").await;
        (server, token)
    });
    let mut runner = TestRunner::new(Config { cases: CASES, failure_persistence: None, ..Config::default() });
    runner
        .run(&body(), |body| {
            rt.block_on(async {
                let get = || async {
                    let r = server.get_as("alpha.test", "/api/user/v1/accounts/alice", &token).await;
                    assert_eq!(r.status(), StatusCode::OK);
                    body_json(r).await
                };
                let before = get().await;
                let response = server
                    .request(Method::PATCH, "alpha.test", "/api/user/v1/accounts/alice")
                    .header("authorization", format!("JWT {token}"))
                    .header("content-type", "application/merge-patch+json")
                    .body(body.to_string())
                    .send()
                    .await
                    .unwrap();
                let status = response.status();
                let answer = response.text().await.unwrap();
                prop_assert!(status.as_u16() < 500, "{status} for {body}: {answer}");
                prop_assert!(status == StatusCode::OK || status == StatusCode::BAD_REQUEST, "{status} for {body}");
                if status == StatusCode::BAD_REQUEST {
                    let after = get().await;
                    prop_assert_eq!(&after, &before, "partial write for {}", body);
                    let errors: Value = serde_json::from_str(&answer).unwrap();
                    prop_assert!(
                        errors.get("field_errors").is_some() || errors.get("developer_message").is_some(),
                        "{}",
                        answer
                    );
                }
                Ok(())
            })
        })
        .unwrap();
}

#[test]
fn random_patches_never_fail_or_half_apply_sqlite() {
    run(Backend::Sqlite);
}

#[test]
fn random_patches_never_fail_or_half_apply_postgres() {
    run(Backend::Postgres);
}
