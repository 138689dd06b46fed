//! Mail over SMTP, after commit: delivered through the site's server by the
//! outbox worker; a server that is down delays delivery without holding up
//! requests; a change that does not commit sends nothing; dead letters.

use std::sync::{Arc, Mutex};

use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::harness::*;

/// A minimal SMTP server on loopback that keeps every message it receives.
struct SmtpSink {
    port: u16,
    messages: Arc<Mutex<Vec<String>>>,
}

impl SmtpSink {
    async fn start() -> SmtpSink {
        Self::start_on(0).await
    }

    /// A sink on `port` (0: any free port).
    async fn start_on(port: u16) -> SmtpSink {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let store = Arc::clone(&messages);
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    let (read, mut write) = socket.into_split();
                    let mut lines = BufReader::new(read).lines();
                    let _ = write.write_all(b"220 sink ESMTP\r\n").await;
                    let mut data: Option<String> = None;
                    while let Ok(Some(line)) = lines.next_line().await {
                        if let Some(body) = data.as_mut() {
                            if line == "." {
                                store.lock().unwrap().push(std::mem::take(body));
                                data = None;
                                let _ = write.write_all(b"250 OK\r\n").await;
                            } else {
                                body.push_str(&line);
                                body.push('\n');
                            }
                            continue;
                        }
                        let verb = line.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
                        let reply: &[u8] = match verb.as_str() {
                            "EHLO" | "HELO" => b"250 sink\r\n",
                            "DATA" => {
                                data = Some(String::new());
                                b"354 go ahead\r\n"
                            }
                            "QUIT" => {
                                let _ = write.write_all(b"221 bye\r\n").await;
                                break;
                            }
                            _ => b"250 OK\r\n",
                        };
                        let _ = write.write_all(reply).await;
                    }
                });
            }
        });
        SmtpSink { port, messages }
    }

    /// The messages received, once there are at least `n` (or after 30 s).
    async fn wait_for(&self, n: usize) -> Vec<String> {
        for _ in 0..300 {
            if self.messages.lock().unwrap().len() >= n {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        self.messages.lock().unwrap().clone()
    }
}

/// A loopback port nothing listens on (for now).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `userapi mail outbox` as JSON.
async fn outbox(s: &TestServer, extra: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["mail", "outbox"];
    args.extend_from_slice(extra);
    let out = s.cli(&args).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout).expect("outbox JSON")
}

/// Polls the outbox until `done` holds for it (at most 30 s).
async fn outbox_until(s: &TestServer, done: impl Fn(&[serde_json::Value]) -> bool) -> Vec<serde_json::Value> {
    let mut entries = outbox(s, &[]).await;
    for _ in 0..120 {
        if done(&entries) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        entries = outbox(s, &[]).await;
    }
    entries
}

fn smtp_site(port: u16) -> serde_json::Value {
    let mut config = site("alpha", "alpha", ALPHA_SECRET);
    config["email"] = json!({"kind": "smtp", "url": format!("smtp://127.0.0.1:{port}"), "from": "accounts@alpha.test"});
    config
}

async fn patch_email(s: &TestServer, token: &str, body: serde_json::Value) -> reqwest::Response {
    s.patch_account("alpha.test", "alice", token, body).await
}

async fn email_change_is_delivered_over_smtp(b: Backend) {
    let sink = SmtpSink::start().await;
    let s = TestServer::start_with(b, vec![("alpha.json".into(), smtp_site(sink.port))], &[]).await;
    s.create_user("alpha", "alice", &[]).await;
    let alice = s.token("alpha", "alice").await;
    let response = patch_email(&s, &alice, json!({"email": "alice@new.example.com"})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let messages = sink.wait_for(1).await;
    assert_eq!(messages.len(), 1);
    assert!(messages[0].contains("To: alice@new.example.com"), "{}", messages[0]);
    assert!(messages[0].contains("From: accounts@alpha.test"), "{}", messages[0]);
    assert!(messages[0].contains("/email_confirm/"), "{}", messages[0]);
    let entries = outbox_until(&s, |e| e.iter().all(|m| m["state"] == "sent")).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["state"], "sent");
    assert_eq!(entries[0]["attempts"], 1);
    assert_eq!(s.metric("userapi_mail_delivered_total").await, 1);
}

async fn smtp_down_delays_delivery_without_blocking(b: Backend) {
    let port = free_port();
    let s =
        TestServer::start_with(b, vec![("alpha.json".into(), smtp_site(port))], &[("USERAPI_MAIL_RETRY_MS", "200")])
            .await;
    s.create_user("alpha", "alice", &[]).await;
    let alice = s.token("alpha", "alice").await;
    // The server is down: the change is saved and answered at once.
    let response = patch_email(&s, &alice, json!({"email": "alice@new.example.com", "bio": "kept"})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let account = body_json(s.get_as("alpha.test", "/api/user/v1/accounts/alice", &alice).await).await;
    assert_eq!(account["bio"], "kept");
    let entries = outbox_until(&s, |e| e.first().is_some_and(|m| m["attempts"].as_i64() >= Some(2))).await;
    assert_eq!(entries[0]["state"], "pending", "{entries:?}");
    assert!(entries[0]["last_error"].as_str().is_some_and(|e| !e.is_empty()), "{entries:?}");
    assert!(s.metric("userapi_mail_failed_attempts_total").await >= 2);
    assert_eq!(s.metric("userapi_mail_pending").await, 1);
    // The server comes back: the next retry delivers.
    let sink = SmtpSink::start_on(port).await;
    let messages = sink.wait_for(1).await;
    assert_eq!(messages.len(), 1, "delivered once the server is back");
    assert!(messages[0].contains("To: alice@new.example.com"));
    let entries = outbox_until(&s, |e| e.first().is_some_and(|m| m["state"] == "sent")).await;
    assert_eq!(entries[0]["state"], "sent", "{entries:?}");
}

async fn a_change_that_does_not_commit_sends_nothing(b: Backend) {
    let sink = SmtpSink::start().await;
    let s = TestServer::start_with(b, vec![("alpha.json".into(), smtp_site(sink.port))], &[]).await;
    s.create_user("alpha", "alice", &[]).await;
    let alice = s.token("alpha", "alice").await;
    let response = patch_email(&s, &alice, json!({"email": "alice@new.example.com"})).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(sink.wait_for(1).await.len(), 1);
    // Confirming queues two notices, then writes the audit row; make that
    // last write fail so that the whole change rolls back.
    match b {
        Backend::Sqlite => {
            s.sql(
                "CREATE TRIGGER refuse_confirmation BEFORE INSERT ON audit_log WHEN NEW.action = 'email_confirmed' \
                 BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
                &[],
            )
            .await
        }
        Backend::Postgres => {
            s.sql(
                "CREATE FUNCTION refuse_confirmation() RETURNS trigger AS $$ \
                 BEGIN RAISE EXCEPTION 'refused by the test'; END $$ LANGUAGE plpgsql",
                &[],
            )
            .await;
            s.sql(
                "CREATE TRIGGER refuse_confirmation BEFORE INSERT ON audit_log FOR EACH ROW \
                 WHEN (NEW.action = 'email_confirmed') EXECUTE FUNCTION refuse_confirmation()",
                &[],
            )
            .await
        }
    }
    let key = s.query("SELECT activation_key FROM pending_email_changes", &[]).await[0][0].clone().unwrap();
    let response =
        s.request(reqwest::Method::GET, "alpha.test", &format!("/email_confirm/{key}")).send().await.unwrap();
    assert!(response.status().is_server_error(), "{}", response.status());
    // Give the worker time to deliver anything it was (wrongly) given.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(sink.messages.lock().unwrap().len(), 1, "no notice of a change that did not happen");
    let entries = outbox(&s, &[]).await;
    assert_eq!(entries.len(), 1, "only the first confirmation request: {entries:?}");
    let account = body_json(s.get_as("alpha.test", "/api/user/v1/accounts/alice", &alice).await).await;
    assert_ne!(account["email"], "alice@new.example.com");
}

async fn undeliverable_mail_becomes_a_dead_letter(b: Backend) {
    let port = free_port();
    let s = TestServer::start_with(b, vec![("alpha.json".into(), smtp_site(port))], &[("USERAPI_MAIL_RETRY_MS", "1")])
        .await;
    s.create_user("alpha", "alice", &[]).await;
    let alice = s.token("alpha", "alice").await;
    let response = patch_email(&s, &alice, json!({"email": "alice@new.example.com"})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let entries = outbox_until(&s, |e| e.first().is_some_and(|m| m["state"] == "dead")).await;
    assert_eq!(entries[0]["state"], "dead", "{entries:?}");
    assert_eq!(entries[0]["attempts"], 10);
    assert_eq!(s.metric("userapi_mail_dead_letters").await, 1);
    assert_eq!(outbox(&s, &["--state", "dead"]).await.len(), 1);
    // The operator fixes the server and puts the letter back.
    let sink = SmtpSink::start_on(port).await;
    let requeued = outbox(&s, &["--retry-dead"]).await;
    assert_eq!(requeued[0]["state"], "pending");
    // The worker is woken by commits of its own instance only; its next
    // pass (at most an hour away when idle) would find it. A new change
    // wakes it now.
    let response = patch_email(&s, &alice, json!({"email": "alice@newer.example.com"})).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(sink.wait_for(2).await.len(), 2);
}

backend_tests!(
    email_change_is_delivered_over_smtp,
    smtp_down_delays_delivery_without_blocking,
    a_change_that_does_not_commit_sends_nothing,
    undeliverable_mail_becomes_a_dead_letter
);
