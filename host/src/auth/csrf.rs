//! Django's double-submit CSRF check for cookie-authenticated unsafe
//! requests (errors.md §4.3), and the tokens of `/csrf/api/v1/token`.

use axum::http::{header, HeaderMap};

use rand::Rng;
use subtle::ConstantTimeEq;

use super::cookie;
use crate::sites::Site;

const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const SECRET_LEN: usize = 32;
/// Django's cookie name.
pub const CSRF_COOKIE: &str = "csrftoken";
/// Django's header name.
pub const CSRF_HEADER: &str = "x-csrftoken";

fn failed(reason: &str) -> String {
    reason.to_owned()
}

/// Passes when `X-CSRFToken` matches the `csrftoken` cookie (masked or not)
/// and, on HTTPS, the Origin or Referer is the site itself or a CORS origin.
/// The error is Django's reason.
pub fn check(site: &Site, headers: &HeaderMap) -> Result<(), String> {
    check_token(site, headers, headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()))
}

/// The same check with the token a form sent (`csrfmiddlewaretoken`).
pub fn check_token(site: &Site, headers: &HeaderMap, sent: Option<&str>) -> Result<(), String> {
    if is_https(headers) {
        check_origin(site, headers)?;
    }
    let cookie_secret = cookie(headers, CSRF_COOKIE)
        .ok_or_else(|| failed("CSRF cookie not set."))
        .and_then(|c| unmask(c).ok_or_else(|| failed("CSRF cookie has incorrect length.")))?;
    let sent = sent.ok_or_else(|| failed("CSRF token missing."))?;
    let sent_secret = unmask(sent).ok_or_else(|| failed("CSRF token has incorrect length."))?;
    if bool::from(sent_secret.as_bytes().ct_eq(cookie_secret.as_bytes())) {
        Ok(())
    } else {
        Err(failed("CSRF token incorrect."))
    }
}

fn check_origin(site: &Site, headers: &HeaderMap) -> Result<(), String> {
    let source = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| failed("Referer checking failed - no Referer."))?;
    let origin: String = source.splitn(4, '/').take(3).collect::<Vec<_>>().join("/");
    // On HTTPS, the site's own origins count only over HTTPS.
    let own = origin.starts_with("https://") && site.is_own_origin(&origin);
    if own || site.lists_cors_origin(&origin) {
        Ok(())
    } else {
        Err(failed(&format!("Origin checking failed - {origin} does not match any trusted origins.")))
    }
}

fn index(c: u8) -> Option<usize> {
    ALPHABET.iter().position(|a| *a == c)
}

/// The 32-character secret of a 32-character secret or 64-character masked token.
fn unmask(token: &str) -> Option<String> {
    let bytes = token.as_bytes();
    if !bytes.iter().all(|b| index(*b).is_some()) {
        return None;
    }
    match bytes.len() {
        SECRET_LEN => Some(token.to_owned()),
        n if n == 2 * SECRET_LEN => {
            let (mask, cipher) = bytes.split_at(SECRET_LEN);
            let secret = mask
                .iter()
                .zip(cipher)
                .map(|(m, c)| {
                    let (m, c) = (index(*m)?, index(*c)?);
                    Some(ALPHABET[(c + ALPHABET.len() - m) % ALPHABET.len()] as char)
                })
                .collect::<Option<String>>()?;
            Some(secret)
        }
        _ => None,
    }
}

fn random_chars(n: usize) -> Vec<u8> {
    let mut rng = rand::thread_rng();
    (0..n).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())]).collect()
}

/// A masked 64-character token for `secret`.
fn mask(secret: &str) -> String {
    let mask = random_chars(SECRET_LEN);
    let cipher: Vec<u8> = secret
        .bytes()
        .zip(&mask)
        .map(|(s, m)| ALPHABET[(index(s).unwrap_or(0) + index(*m).unwrap_or(0)) % ALPHABET.len()])
        .collect();
    String::from_utf8_lossy(&[mask, cipher].concat()).into_owned()
}

/// A fresh masked token and the secret the `csrftoken` cookie keeps: the
/// request's cookie secret when it is valid, else a new one.
pub fn issue(headers: &HeaderMap) -> (String, String) {
    let secret = cookie(headers, CSRF_COOKIE)
        .and_then(unmask)
        .unwrap_or_else(|| String::from_utf8_lossy(&random_chars(SECRET_LEN)).into_owned());
    (mask(&secret), secret)
}

/// The `Set-Cookie` value that keeps `secret`.
pub fn cookie_value(secret: &str) -> String {
    format!("{CSRF_COOKIE}={secret}; Path=/; Max-Age=31449600; SameSite=Lax")
}

/// Whether the request reached the proxy in front of us over HTTPS.
pub fn is_https(headers: &HeaderMap) -> bool {
    headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()) == Some("https")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_tokens_unmask_to_their_secret() {
        let secret = String::from_utf8(random_chars(SECRET_LEN)).unwrap();
        let token = mask(&secret);
        assert_eq!(token.len(), 64);
        assert_ne!(&token[32..], secret);
        assert_eq!(unmask(&token).as_deref(), Some(secret.as_str()));
        assert_eq!(unmask(&secret).as_deref(), Some(secret.as_str()));
        assert_eq!(unmask("short"), None);
        assert_eq!(unmask(&"!".repeat(32)), None);
    }
}
