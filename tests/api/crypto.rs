//! Crypto-shredding (issue 14): personal values sealed under a key of their
//! learner, kept apart from the data; keys checked at start, rotated,
//! destroyed at retirement. The raw-file checks of the full retirement
//! sequence are in `retirement.rs` (they use [`Probe`]).

use std::path::PathBuf;

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::*;

backend_tests!(
    wrong_or_missing_keys_stop_the_start,
    rotation_keeps_every_account_readable,
    encrypt_existing_converts_old_rows_once,
    email_lookups_work_on_the_blind_index,
    a_tenant_added_by_a_reload_gets_its_keys,
    a_live_rotation_reaches_the_running_server_on_reload,
    a_key_left_queued_is_destroyed_at_the_next_start,
);

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// What a copy of the database holds of one learner: the sealed bio and the
/// id of the learner key it needs.
pub struct Probe {
    pub key_id: String,
    pub sealed_bio: String,
}

impl Probe {
    /// Copies the learner's sealed bio and key id out of the database.
    pub async fn capture(s: &TestServer, username: &str) -> Probe {
        let rows = s
            .query(
                "SELECT u.key_id, p.bio FROM users u JOIN profiles p ON p.user_id = u.id WHERE u.username = $1",
                &[SqlValue::Text(username.into())],
            )
            .await;
        let row = &rows[0];
        Probe { key_id: row[0].clone().expect("key id"), sealed_bio: row[1].clone().expect("bio") }
    }

    /// Opens the copied bio with what the key store and keyring hold now:
    /// `None` when the learner key is gone.
    pub async fn open(&self, s: &TestServer, tenant: &str) -> Option<String> {
        let (kek_id, wrapped) = keystore_row(s, &self.key_id).await?;
        let ring: Value = serde_json::from_slice(&std::fs::read(s.keyring_path()).unwrap()).unwrap();
        let kek = ring["tenants"][tenant]["keks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["id"] == kek_id.as_str())
            .expect("the KEK that wrapped the key")["key"]
            .as_str()
            .unwrap()
            .to_owned();
        let dk = open_sealed(
            &B64.decode(kek).unwrap(),
            format!("userapi/v1/dk\u{1f}{tenant}\u{1f}{}\u{1f}{kek_id}", self.key_id).as_bytes(),
            &wrapped,
        );
        let dk = B64.decode(String::from_utf8(dk).unwrap()).unwrap();
        let sealed = self.sealed_bio.strip_prefix("enc1:").expect("the bio is sealed");
        let ad = format!("userapi/v1\u{1f}{tenant}\u{1f}{}\u{1f}profiles.bio", self.key_id);
        Some(String::from_utf8(open_sealed(&dk, ad.as_bytes(), sealed)).unwrap())
    }
}

fn open_sealed(key: &[u8], ad: &[u8], sealed: &str) -> Vec<u8> {
    let bytes = B64.decode(sealed).unwrap();
    let (nonce, body) = bytes.split_at(24);
    let cipher = XChaCha20Poly1305::new_from_slice(key).unwrap();
    let nonce: [u8; 24] = nonce.try_into().unwrap();
    cipher.decrypt(&XNonce::from(nonce), Payload { msg: body, aad: ad }).expect("opens")
}

/// The key store's database URL (its default place beside the data).
fn keystore_url(s: &TestServer) -> String {
    match s.backend {
        Backend::Sqlite => format!("{}.keys", s.database_url.trim_start_matches("sqlite://")),
        Backend::Postgres => format!("{}_keys", s.database_url),
    }
}

/// (KEK id, wrapped key) of learner key `key_id`, if the key store has it.
pub async fn keystore_row(s: &TestServer, key_id: &str) -> Option<(String, String)> {
    let sql = "SELECT kek_id, wrapped FROM learner_keys WHERE key_id = $1";
    match s.backend {
        Backend::Sqlite => {
            let conn = rusqlite::Connection::open(keystore_url(s)).unwrap();
            conn.query_row(&sql.replace("$1", "?1"), [key_id], |r| Ok((r.get(0)?, r.get(1)?))).ok()
        }
        Backend::Postgres => {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&keystore_url(s)).await.unwrap();
            sqlx::query_as(sql).bind(key_id).fetch_optional(&mut conn).await.unwrap()
        }
    }
}

/// Every file the data and its keys live in: the SQLite files (database,
/// WAL, key store), or on PostgreSQL the relation files of every table and
/// index of the data and key-store databases, read after a CHECKPOINT.
pub async fn raw_files(s: &TestServer) -> Vec<PathBuf> {
    match s.backend {
        Backend::Sqlite => {
            let db = s.database_url.trim_start_matches("sqlite://").to_owned();
            ["", "-wal", "-journal", ".keys", ".keys-journal"]
                .iter()
                .map(|suffix| PathBuf::from(format!("{db}{suffix}")))
                .filter(|p| p.exists())
                .collect()
        }
        Backend::Postgres => {
            use sqlx::Connection;
            let mut files = Vec::new();
            for url in [s.database_url.clone(), keystore_url(s)] {
                let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
                sqlx::query("CHECKPOINT").execute(&mut conn).await.unwrap();
                let (dir,): (String,) = sqlx::query_as("SHOW data_directory").fetch_one(&mut conn).await.unwrap();
                let paths: Vec<(String,)> = sqlx::query_as(
                    "SELECT pg_relation_filepath(oid) FROM pg_class WHERE relkind IN ('r', 't', 'i') \
                     AND pg_relation_filepath(oid) IS NOT NULL",
                )
                .fetch_all(&mut conn)
                .await
                .unwrap();
                for (path,) in paths {
                    let file = PathBuf::from(&dir).join(path);
                    if file.exists() {
                        files.push(file);
                    }
                }
            }
            assert!(files.len() > 30, "{} relation files", files.len());
            files
        }
    }
}

/// The raw files that hold `needle`'s bytes.
pub async fn raw_files_containing(s: &TestServer, needle: &str) -> Vec<PathBuf> {
    raw_files(s)
        .await
        .into_iter()
        .filter(|f| {
            let bytes = std::fs::read(f).unwrap_or_default();
            bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
        })
        .collect()
}

/// Runs `userapi serve` and expects it to refuse to start; returns its stderr.
async fn refused_start(s: &TestServer, env: &[(&str, &str)]) -> String {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_userapi"));
    cmd.arg("serve")
        .env("USERAPI_BIND", "127.0.0.1:0")
        .env("USERAPI_DATABASE_URL", &s.database_url)
        .env("USERAPI_SITES_DIR", &s.sites_dir)
        .env("USERAPI_LOG", "json")
        .envs(env.iter().copied())
        .kill_on_drop(true);
    let out = tokio::time::timeout(std::time::Duration::from_secs(30), cmd.output())
        .await
        .expect("a start with the wrong keys must stop, not serve")
        .unwrap();
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

async fn wrong_or_missing_keys_stop_the_start(b: Backend) {
    let s = TestServer::start(b).await;
    s.create_user("alpha", "alice", &[]).await;
    let ring_path = s.keyring_path();
    let ring: Value = serde_json::from_slice(&std::fs::read(&ring_path).unwrap()).unwrap();

    // A keyring whose KEK is another one.
    let mut wrong = ring.clone();
    wrong["tenants"]["alpha"]["keks"][0]["key"] = json!(random_key());
    let dir = tempfile::tempdir().unwrap();
    let wrong_path = dir.path().join("wrong.json");
    std::fs::write(&wrong_path, wrong.to_string()).unwrap();
    let err = refused_start(&s, &[("USERAPI_KEYRING", wrong_path.to_str().unwrap())]).await;
    assert!(err.contains("do not fit the data") && err.contains("alpha"), "{err}");
    // Another index key.
    let mut wrong = ring.clone();
    wrong["tenants"]["alpha"]["index_key"] = json!(random_key());
    std::fs::write(&wrong_path, wrong.to_string()).unwrap();
    let err = refused_start(&s, &[("USERAPI_KEYRING", wrong_path.to_str().unwrap())]).await;
    assert!(err.contains("index_key"), "{err}");
    // No key for the tenant.
    let mut missing = ring.clone();
    missing["tenants"].as_object_mut().unwrap().remove("alpha");
    std::fs::write(&wrong_path, missing.to_string()).unwrap();
    let err = refused_start(&s, &[("USERAPI_KEYRING", wrong_path.to_str().unwrap())]).await;
    assert!(err.contains("tenant \"alpha\" has no key"), "{err}");
    // A keyring file that is not there.
    let err = refused_start(&s, &[("USERAPI_KEYRING", "/nonexistent/keyring.json")]).await;
    assert!(err.contains("does not exist"), "{err}");
    if b == Backend::Postgres {
        // PostgreSQL never makes keys up.
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_userapi"));
        cmd.args(["migrate"])
            .env("USERAPI_DATABASE_URL", &s.database_url)
            .env("USERAPI_SITES_DIR", &s.sites_dir)
            .env_remove("USERAPI_KEYRING");
        let out = cmd.output().await.unwrap();
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("has no key"));
    } else {
        // SQLite's keyring lost: a new one would not fit, and is not written.
        let saved = std::fs::read(&ring_path).unwrap();
        std::fs::remove_file(&ring_path).unwrap();
        let err = refused_start(&s, &[]).await;
        assert!(err.contains("do not fit the data"), "{err}");
        assert!(!ring_path.exists(), "a keyring that does not fit is not written");
        std::fs::write(&ring_path, saved).unwrap();
    }
    // The right keys still start, and the account reads.
    let again = s.another_instance().await;
    let token = again.token("alpha", "alice").await;
    let account = body_json(again.get_account("alpha.test", "alice", &token).await).await;
    assert_eq!(account["email"], "alice@example.com");
}

async fn rotation_keeps_every_account_readable(b: Backend) {
    let s = TestServer::start(b).await;
    for name in ["alice", "bob"] {
        s.create_user("alpha", name, &[]).await;
    }
    let alice = s.token("alpha", "alice").await;
    let r = s.patch_account("alpha.test", "alice", &alice, json!({"bio": "Rotated bio", "name": "Alice Rot"})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let probe = Probe::capture(&s, "alice").await;
    let before: Value = serde_json::from_slice(&std::fs::read(s.keyring_path()).unwrap()).unwrap();
    let old_kek = before["tenants"]["alpha"]["keks"][0]["id"].clone();

    let out = s.cli(&["keys", "rotate", "--tenant", "alpha"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let after: Value = serde_json::from_slice(&std::fs::read(s.keyring_path()).unwrap()).unwrap();
    let keks = after["tenants"]["alpha"]["keks"].as_array().unwrap();
    assert_eq!(keks.len(), 1, "the old KEK is dropped: {after}");
    assert_ne!(keks[0]["id"], old_kek);
    assert_eq!(after["tenants"]["alpha"]["index_key"], before["tenants"]["alpha"]["index_key"]);
    // Every learner key is wrapped under the new KEK; the data did not change.
    let (kek_id, _) = keystore_row(&s, &probe.key_id).await.unwrap();
    assert_eq!(json!(kek_id), keks[0]["id"]);
    assert_eq!(Probe::capture(&s, "alice").await.sealed_bio, probe.sealed_bio);
    assert_eq!(probe.open(&s, "alpha").await.as_deref(), Some("Rotated bio"));

    // A fresh instance, with only the new keyring, reads every account.
    let fresh = s.another_instance().await;
    let alice = fresh.token("alpha", "alice").await;
    let account = body_json(fresh.get_account("alpha.test", "alice", &alice).await).await;
    assert_eq!((account["bio"].as_str(), account["name"].as_str()), (Some("Rotated bio"), Some("Alice Rot")));
    let bob = fresh.token("alpha", "bob").await;
    assert_eq!(body_json(fresh.get_account("alpha.test", "bob", &bob).await).await["email"], "bob@example.com");
}

async fn encrypt_existing_converts_old_rows_once(b: Backend) {
    let s = TestServer::start(b).await;
    s.create_user("alpha", "old", &[]).await;
    // Rows as a version before encryption wrote them: clear values, a
    // lower-cased e-mail key, no learner key.
    s.sql(
        "UPDATE users SET email = 'Old.Learner@Example.com', email_key = 'old.learner@example.com', key_id = NULL \
         WHERE username = 'old'",
        &[],
    )
    .await;
    s.sql(
        "UPDATE profiles SET name = 'Old Clear Name', bio = 'OldClearBio', city = 'OldClearCity', \
         meta = '{\"old_names\": [[\"Older Name\", \"x\", \"2020-01-01T00:00:00Z\"]]}' \
         WHERE user_id = (SELECT id FROM users WHERE username = 'old')",
        &[],
    )
    .await;
    let out = s.cli(&["keys", "encrypt-existing", "--batch", "1"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stored = s
        .query(
            "SELECT u.email, u.email_key, u.key_id, p.name, p.bio, p.city, p.meta FROM users u \
             JOIN profiles p ON p.user_id = u.id WHERE u.username = 'old'",
            &[],
        )
        .await;
    let row: Vec<String> = stored[0].iter().map(|c| c.clone().unwrap_or_default()).collect();
    assert!(row[0].starts_with("enc1:") && row[1].starts_with("bi1:") && !row[2].is_empty(), "{row:?}");
    for value in &row[3..] {
        assert!(value.starts_with("enc1:"), "{row:?}");
    }
    for needle in ["Old.Learner", "Old Clear Name", "OldClearBio", "OldClearCity", "Older Name"] {
        let hits = raw_files_containing(&s, needle).await;
        // PostgreSQL keeps the clear rows in dead tuples until vacuumed; the
        // live rows and SQLite's files (secure_delete) are clean.
        if b == Backend::Sqlite {
            assert!(hits.is_empty(), "{needle} in {hits:?}");
        }
    }
    // A second run changes nothing.
    let out = s.cli(&["keys", "encrypt-existing"]).await;
    assert!(String::from_utf8_lossy(&out.stdout).contains(" 0 values sealed"), "{out:?}");
    let again = s.query("SELECT email, email_key, key_id FROM users WHERE username = 'old'", &[]).await;
    assert_eq!(again[0], stored[0][..3].to_vec());
    // The account reads, and is found by its address in any case.
    s.flush_cache().await;
    let staff = staff_token(&s).await;
    let found =
        body_json(s.get_as("alpha.test", "/api/user/v1/accounts?email=Old.Learner@Example.com", &staff).await).await;
    assert_eq!(found[0]["username"], "old", "{found}");
    assert_eq!(found[0]["name"], "Old Clear Name");
    let old = s.stored_user("alpha", "old").await;
    assert_eq!((old["bio"].as_str(), old["city"].as_str()), (Some("OldClearBio"), Some("OldClearCity")));
    assert_eq!(old["meta"]["old_names"][0][0], "Older Name");
}

async fn staff_token(s: &TestServer) -> String {
    s.create_user("alpha", "staffer", &["--staff"]).await;
    s.token("alpha", "staffer").await
}

async fn email_lookups_work_on_the_blind_index(b: Backend) {
    let s = TestServer::start(b).await;
    s.create_user("alpha", "alice", &[]).await;
    // Uniqueness is case-insensitive.
    let out =
        s.cli(&["users", "create", "--site", "alpha", "--username", "alice2", "--email", "ALICE@Example.COM"]).await;
    assert!(!out.status.success(), "a second ALICE@Example.COM");
    let staff = staff_token(&s).await;
    let found = body_json(s.get_as("alpha.test", "/api/user/v1/accounts?email=alice@example.com", &staff).await).await;
    assert_eq!(found[0]["username"], "alice", "{found}");
    // search_emails.
    let r = s
        .request(Method::POST, "alpha.test", "/api/user/v1/accounts/search_emails")
        .header("authorization", format!("JWT {staff}"))
        .header("content-type", "application/json")
        .body(json!({"emails": ["alice@example.com", "nobody@example.com"]}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let found = body_json(r).await;
    assert_eq!(found.as_array().map(Vec::len), Some(1), "{found}");
    assert_eq!(found[0]["email"], "alice@example.com");
    // The stored key is the tenant's HMAC of the lower-cased address, not the address.
    let key = s.query("SELECT email_key FROM users WHERE username = 'alice'", &[]).await[0][0].clone().unwrap();
    assert_eq!(key, s.email_index("alpha", "ALICE@example.com"));
    assert!(!key.contains("alice"));
}

/// A site of a new tenant, added by a reload: the running server reads its
/// keys (SQLite: made and added to the default keyring; PostgreSQL: refused
/// until the keyring has them) and seals and opens its accounts' values.
async fn a_tenant_added_by_a_reload_gets_its_keys(b: Backend) {
    let s = TestServer::start(b).await;
    s.create_user("alpha", "root", &["--superuser"]).await;
    let root = s.token("alpha", "root").await;
    s.write_site("omega.json", &site("omega", "omega", "omega-secret-0123456789abcdef-0123456789"));
    let ring_path = s.keyring_path();
    if b == Backend::Postgres {
        // PostgreSQL never makes keys up: refused, the old sites keep serving.
        let (status, body) = s.reload_sites("alpha.test", &root).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body.to_string().contains("tenant \\\"omega\\\" has no key"), "{body}");
        assert_eq!(s.get_as("alpha.test", "/api/user/v1/me", &root).await.status(), StatusCode::OK);
        let mut ring: Value = serde_json::from_slice(&std::fs::read(&ring_path).unwrap()).unwrap();
        ring["tenants"]["omega"] = json!({"index_key": random_key(), "keks": [{"id": "k-omega", "key": random_key()}]});
        std::fs::write(&ring_path, ring.to_string()).unwrap();
    }
    let (status, body) = s.reload_sites("alpha.test", &root).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ring: Value = serde_json::from_slice(&std::fs::read(&ring_path).unwrap()).unwrap();
    assert!(ring["tenants"]["omega"]["index_key"].is_string(), "the keyring holds omega's keys: {ring}");
    assert!(ring["tenants"]["alpha"]["index_key"].is_string(), "and still alpha's");

    s.create_user("omega", "olga", &[]).await;
    let olga = s.token("omega", "olga").await;
    let r = s.patch_account("omega.test", "olga", &olga, json!({"bio": "Omega bio 77", "name": "Olga Omega"})).await;
    assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text().await);
    let account = body_json(s.get_as("omega.test", "/api/user/v1/accounts/olga", &olga).await).await;
    assert_eq!((account["bio"].as_str(), account["name"].as_str()), (Some("Omega bio 77"), Some("Olga Omega")));
    s.create_user("omega", "ostaff", &["--staff"]).await;
    let staff = s.token("omega", "ostaff").await;
    let found = s.get_as("omega.test", "/api/user/v1/accounts?email=olga@example.com", &staff).await;
    assert_eq!(found.status(), StatusCode::OK, "{:?}", found.headers());
    let found = body_json(found).await;
    assert_eq!(found[0]["username"], "olga", "{found}");
    // Sealed under omega's keys, not in clear.
    let stored = Probe::capture(&s, "olga").await;
    assert_eq!(stored.open(&s, "omega").await.as_deref(), Some("Omega bio 77"));
}

/// `keys rotate --keep-old`, a reload (SIGHUP), `keys rotate --finish`: the
/// running server reads every account throughout, with no restart.
async fn a_live_rotation_reaches_the_running_server_on_reload(b: Backend) {
    let s = TestServer::start(b).await;
    for name in ["alice", "bob"] {
        s.create_user("alpha", name, &[]).await;
    }
    let alice = s.token("alpha", "alice").await;
    let bob = s.token("alpha", "bob").await;
    let r = s.patch_account("alpha.test", "alice", &alice, json!({"bio": "Live rotation"})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let kek_ids = || {
        let ring: Value = serde_json::from_slice(&std::fs::read(s.keyring_path()).unwrap()).unwrap();
        ring["tenants"]["alpha"]["keks"].as_array().unwrap().iter().map(|k| k["id"].clone()).collect::<Vec<_>>()
    };
    let old = kek_ids();

    let out = s.cli(&["keys", "rotate", "--tenant", "alpha", "--keep-old"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rotated = kek_ids();
    assert_eq!((rotated.len(), &rotated[1]), (2, &old[0]), "the new KEK first, the old one kept");
    // The reload reads the rotated keyring (and starts with no learner key
    // in memory): bob's key, re-wrapped under the new KEK, opens.
    s.flush_cache().await;
    let account = body_json(s.get_account("alpha.test", "bob", &bob).await).await;
    assert_eq!(account["email"], "bob@example.com", "{account}");
    let r = s.patch_account("alpha.test", "bob", &bob, json!({"bio": "Written after the rotation"})).await;
    assert_eq!(r.status(), StatusCode::OK);

    let out = s.cli(&["keys", "rotate", "--tenant", "alpha", "--finish"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(kek_ids(), vec![rotated[0].clone()], "--finish adds no KEK and drops the old one");
    s.flush_cache().await;
    for (name, token, bio) in [("alice", &alice, "Live rotation"), ("bob", &bob, "Written after the rotation")] {
        let account = body_json(s.get_account("alpha.test", name, token).await).await;
        assert_eq!(account["bio"], bio, "{account}");
        let probe = Probe::capture(&s, name).await;
        let (kek_id, _) = keystore_row(&s, &probe.key_id).await.unwrap();
        assert_eq!(json!(kek_id), rotated[0]);
    }
    let out = s.cli(&["keys", "rotate", "--tenant", "alpha", "--finish", "--keep-old"]).await;
    assert!(!out.status.success(), "--finish drops the old keys: it cannot keep them");
}

/// PostgreSQL: `VACUUM FULL` copies a deleted row that an older snapshot
/// can still see, so destroying keys waits for such snapshots to end. A
/// snapshot held open (on no key-store table, so no lock holds the rewrite
/// back) while a key is destroyed does not keep the key in the files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destroyed_key_outlives_no_older_snapshot() {
    use sqlx::Connection;
    let s = TestServer::start(Backend::Postgres).await;
    let store = userapi::crypto::KeyStore::open_postgres(&keystore_url(&s)).await.unwrap();
    let wrapped = format!("WrappedSentinel{}", rand::random::<u32>());
    let key = userapi::crypto::keystore::StoredKey {
        key_id: "snapshot-test".into(),
        tenant: "alpha".into(),
        kek_id: "k-test".into(),
        wrapped: wrapped.clone(),
    };
    store.insert(&key).await.unwrap();
    let mut reader = sqlx::PgConnection::connect(&keystore_url(&s)).await.unwrap();
    sqlx::query("BEGIN ISOLATION LEVEL REPEATABLE READ").execute(&mut reader).await.unwrap();
    sqlx::query("SELECT 1").execute(&mut reader).await.unwrap();
    let held = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(800)).await;
        sqlx::query("COMMIT").execute(&mut reader).await.unwrap();
    });
    let started = std::time::Instant::now();
    store.destroy(std::slice::from_ref(&key.key_id)).await.unwrap();
    let waited = started.elapsed();
    held.await.unwrap();
    assert!(store.get(&key.key_id).await.unwrap().is_none());
    let hits = raw_files_containing(&s, &wrapped).await;
    assert!(hits.is_empty(), "the destroyed key survives in {hits:?}");
    assert!(waited >= std::time::Duration::from_millis(700), "the destroy waited for the snapshot");
    store.close().await;
}

/// A finished retirement queues its learner's key in the same transaction
/// and destroys it after the commit. If the key store failed then, or the
/// process stopped, the queue keeps the key id: the next start destroys it.
async fn a_key_left_queued_is_destroyed_at_the_next_start(b: Backend) {
    let s = TestServer::start(b).await;
    s.create_user("alpha", "alice", &[]).await;
    let alice = s.token("alpha", "alice").await;
    let r = s.patch_account("alpha.test", "alice", &alice, json!({"bio": "Queued"})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let probe = Probe::capture(&s, "alice").await;
    assert!(keystore_row(&s, &probe.key_id).await.is_some());
    // What a crash right after a cleanup's commit leaves.
    s.query("INSERT INTO keys_to_destroy (key_id, created) VALUES ($1, 0)", &[SqlValue::Text(probe.key_id.clone())])
        .await;
    let _next = s.another_instance().await;
    let mut gone = false;
    for _ in 0..100 {
        if keystore_row(&s, &probe.key_id).await.is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(gone, "the queued key outlived the start");
    for _ in 0..100 {
        if s.query("SELECT key_id FROM keys_to_destroy", &[]).await.is_empty() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the destroyed key stays queued");
}
