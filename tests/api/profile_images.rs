//! Profile image upload, serving and removal (accounts.md §15).

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, RgbImage};
use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::*;

fn png(width: u32, height: u32) -> Vec<u8> {
    let img = RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x * 7 % 256) as u8, (y * 13 % 256) as u8, ((x ^ y) % 256) as u8])
    });
    let mut out = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(img).write_to(&mut out, ImageFormat::Png).unwrap();
    out.into_inner()
}

async fn upload(s: &TestServer, token: &str, username: &str, bytes: Vec<u8>, name: &str) -> reqwest::Response {
    let form = Form::new().part("file", Part::bytes(bytes).file_name(name.to_owned()).mime_str("image/png").unwrap());
    s.request(Method::POST, "alpha.test", &format!("/api/user/v1/accounts/{username}/image"))
        .header("authorization", format!("JWT {token}"))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

async fn account(s: &TestServer, token: &str) -> Value {
    body_json(s.get_as("alpha.test", "/api/user/v1/accounts/alice", token).await).await
}

async fn upload_serve_and_remove(b: Backend) {
    let s = TestServer::start(b).await;
    s.create_user("alpha", "alice", &[]).await;
    s.create_user("alpha", "bob", &[]).await;
    s.sql("UPDATE profiles SET year_of_birth = 1990", &[]).await;
    let alice = s.token("alpha", "alice").await;
    let bob = s.token("alpha", "bob").await;

    let response = upload(&s, &bob, "alice", png(300, 200), "me.png").await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "owner only");
    let response = upload(&s, &alice, "alice", png(300, 200), "holiday.gif").await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT, "content decides, not the name");
    let image = account(&s, &alice).await["profile_image"].clone();
    assert_eq!(image["has_image"], true);
    let full = image["image_url_full"].as_str().unwrap();
    assert!(full.starts_with("http://alpha.test/media/profile-images/") && full.contains("_500.jpg?v="), "{full}");
    let path = full.trim_start_matches("http://alpha.test").split('?').next().unwrap().to_owned();
    let response = s.request(Method::GET, "alpha.test", &path).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "image/jpeg");
    let served = image::load_from_memory(&response.bytes().await.unwrap()).unwrap();
    assert_eq!((served.width(), served.height()), (500, 500));
    let small = image["image_url_small"]
        .as_str()
        .unwrap()
        .trim_start_matches("http://alpha.test")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let served = image::load_from_memory(
        &s.request(Method::GET, "alpha.test", &small).send().await.unwrap().bytes().await.unwrap(),
    )
    .unwrap();
    assert_eq!(served.width(), 30);
    // Another tenant's alice has no picture, and cannot fetch this one.
    assert_eq!(s.request(Method::GET, "beta.test", &path).send().await.unwrap().status(), StatusCode::NOT_FOUND);

    let response = s
        .request(Method::DELETE, "alpha.test", "/api/user/v1/accounts/alice/image")
        .header("authorization", format!("JWT {alice}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(account(&s, &alice).await["profile_image"]["has_image"], false);
    assert_eq!(s.request(Method::GET, "alpha.test", &path).send().await.unwrap().status(), StatusCode::NOT_FOUND);
}

async fn bad_uploads_are_refused_and_store_nothing(b: Backend) {
    let s = TestServer::start(b).await;
    s.create_user("alpha", "alice", &[]).await;
    s.sql("UPDATE profiles SET year_of_birth = 1990", &[]).await;
    let alice = s.token("alpha", "alice").await;
    let good = png(300, 300);
    let mut truncated = good.clone();
    truncated.truncate(good.len() / 2);
    let mut huge = vec![0u8; 1024 * 1024 + 10];
    huge[..8].copy_from_slice(&good[..8]);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (good[..50].to_vec(), "The file must be at least 100 bytes in size."),
        (huge, "The file must be smaller than 1 MB in size."),
        (
            b"this is plain text pretending to be an image, long enough to pass the size check easily........"
                .repeat(2),
            "The file must be one of the following types: .gif, .png, .jpeg, .jpg.",
        ),
        (truncated, "The file could not be read as an image. It may be corrupted or too large to process."),
        // Dimensions beyond the limit are refused before any pixel is decoded.
        (png(8000, 4), "The file could not be read as an image. It may be corrupted or too large to process."),
    ];
    for (bytes, message) in cases {
        let response = upload(&s, &alice, "alice", bytes, "x.png").await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{message}");
        assert_eq!(body_json(response).await, json!({"developer_message": message, "user_message": message}));
    }
    let response = s
        .request(Method::POST, "alpha.test", "/api/user/v1/accounts/alice/image")
        .header("authorization", format!("JWT {alice}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        body_json(response).await,
        json!({"developer_message": "No file provided for profile image", "user_message": "No file provided for profile image"})
    );
    assert_eq!(account(&s, &alice).await["profile_image"]["has_image"], false);
}

async fn under_age_users_never_show_an_image(b: Backend) {
    let s = TestServer::start(b).await;
    s.create_user("alpha", "alice", &[]).await;
    let alice = s.token("alpha", "alice").await;
    assert_eq!(upload(&s, &alice, "alice", png(200, 200), "a.png").await.status(), StatusCode::NO_CONTENT);
    let image = account(&s, &alice).await["profile_image"].clone();
    assert_eq!(image["has_image"], false, "no birth year: parental consent applies");
    assert!(image["image_url_full"].as_str().unwrap().ends_with("/static/images/profiles/default_500.png"));
}

backend_tests!(upload_serve_and_remove, bad_uploads_are_refused_and_store_nothing, under_age_users_never_show_an_image);
