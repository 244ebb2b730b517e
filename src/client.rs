//! A small HTTP client for the CLI's calls to a running instance (`health`, `rules list|get`):
//! `http://` and `https://` endpoints, the latter verified against the system's roots (and
//! `SSL_CERT_FILE`), as the outbound calls of `serve` are.

use std::time::Duration;

use http::StatusCode;

/// GET a URL and decode its JSON body (10 s timeout); a body that is not JSON comes back as a
/// string.
pub async fn get_json(url: &str) -> Result<(StatusCode, serde_json::Value), String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("invalid URL: {e}"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err("only http:// and https:// endpoints are supported".into());
    }
    let resp = crate::outbound::client()
        .get(url)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| format!("request failed: {}", crate::outbound::describe(&e)))?;
    let status = resp.status();
    let body = resp
        .bytes()
        .await
        .map_err(|e| format!("reading body: {e}"))?;
    let json = serde_json::from_slice(&body)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&body).into_owned()));
    Ok((status, json))
}
