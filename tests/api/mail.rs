//! Mail over SMTP: delivered through the site's server, and a failed
//! delivery rolls the whole change back.

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
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
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
    let messages = sink.messages.lock().unwrap().clone();
    assert_eq!(messages.len(), 1);
    assert!(messages[0].contains("To: alice@new.example.com"), "{}", messages[0]);
    assert!(messages[0].contains("From: accounts@alpha.test"), "{}", messages[0]);
    assert!(messages[0].contains("/email_confirm/"), "{}", messages[0]);
}

async fn failed_delivery_rolls_the_change_back(b: Backend) {
    // Nothing listens on this port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let s = TestServer::start_with(b, vec![("alpha.json".into(), smtp_site(closed))], &[]).await;
    s.create_user("alpha", "alice", &[]).await;
    let alice = s.token("alpha", "alice").await;
    let response = patch_email(&s, &alice, json!({"email": "alice@new.example.com", "bio": "should not stay"})).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        body_json(response).await,
        json!({"developer_message": "Error thrown from do_email_change_request: 'Unable to send email activation link. Please try again later.'",
               "user_message": "Unable to send email activation link. Please try again later."})
    );
    let account = body_json(s.get_as("alpha.test", "/api/user/v1/accounts/alice", &alice).await).await;
    assert!(account["bio"].is_null(), "the bio was rolled back");
    let pending = s.sql_text("SELECT CAST(COUNT(*) AS TEXT) FROM pending_email_changes WHERE user_id > $1", 0).await;
    assert_eq!(pending, "0");
}

backend_tests!(email_change_is_delivered_over_smtp, failed_delivery_rolls_the_change_back);
