//! Documents in cloud object stores: rule repositories and JWKS documents named by an `s3://`,
//! `azblob://` or `gs://` URL (SPEC §2.5 `access_rules.repositories`, §2.6 `jwks_urls`), read
//! as Oathkeeper reads them through gocloud.dev's blob packages.
//!
//! An object is fetched with one signed (or token-bearing) HTTP GET, so it goes through the
//! same pooled client, deadline, retries and size limits as an `http(s)://` source, and a rule
//! repository is polled with the same conditional requests (signed with the rest where the
//! store signs headers). Credentials come from each cloud's default chain.
//!
//! # Layout
//! - `s3.rs`: S3's parameters, the object's address, AWS Signature Version 4.
//! - `aws.rs`: the AWS credential chain (environment, shared files and profiles, web identity,
//!   container and instance metadata endpoints) and the cache of temporary credentials.
//! - `azure.rs`: Azure Blob Storage's parameters and credentials (Shared Key, SAS, connection
//!   strings, Microsoft Entra ID tokens).
//! - `gcs.rs`: Google Cloud Storage and Application Default Credentials.
//! - here: the token cache and token calls the OAuth 2 based stores share, XML error answers.

pub mod aws;
pub mod azure;
pub mod gcs;
pub mod s3;
#[cfg(test)]
mod stub;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use http::HeaderMap;
use serde::Deserialize;

use crate::outbound::{self, CallPolicy};

pub use azure::AzureBlob;
pub use gcs::GcsObject;
pub use s3::S3Object;

/// An object in a cloud object store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Object {
    S3(S3Object),
    Azure(AzureBlob),
    Gcs(GcsObject),
}

impl Object {
    /// `None` when `url` names no object store (its scheme is another one); an error when it
    /// names one that cannot be read (an unsupported store, a bad parameter, no region).
    pub fn parse(url: &str) -> Option<Result<Object, String>> {
        let (scheme, _) = url.split_once("://")?;
        match scheme {
            "s3" => Some(S3Object::parse(url, &aws::process_env).map(Object::S3)),
            "azblob" => Some(AzureBlob::parse(url, &aws::process_env).map(Object::Azure)),
            "gs" => Some(GcsObject::parse(url, &aws::process_env).map(Object::Gcs)),
            _ => None,
        }
    }

    /// The object's GET request with `headers` (conditional ones), signed now (credentials are
    /// looked up, and fetched when they are temporary and expire soon).
    pub async fn get(&self, headers: HeaderMap) -> Result<SignedGet, String> {
        match self {
            Object::S3(o) => o.signed_get(headers).await,
            Object::Azure(o) => o.signed_get(headers).await,
            Object::Gcs(o) => o.signed_get(headers).await,
        }
    }
}

/// A signed GET, sent as many times as the call's retries need (a signature stays valid for
/// 15 minutes, far longer than any call's deadline).
#[derive(Debug, Clone)]
pub struct SignedGet {
    pub url: url::Url,
    pub headers: HeaderMap,
}

impl SignedGet {
    /// The request on the shared outbound client.
    pub fn request(&self) -> reqwest::RequestBuilder {
        crate::outbound::client()
            .get(self.url.clone())
            .headers(self.headers.clone())
    }
}

/// What an object store's error answer says: its status and, when the body is the stores' XML
/// error document, its `Code` and `Message` (`403 Forbidden: SignatureDoesNotMatch: ...`).
pub async fn failure(resp: reqwest::Response) -> String {
    let status = resp.status();
    let body = crate::outbound::read_limited(resp, 8 << 10)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&body);
    // One line: Azure's messages carry `\nRequestId:...\nTime:...`, and the text is the
    // store's, put into the log.
    let one_line = |t: String| t.split_whitespace().collect::<Vec<_>>().join(" ");
    let code = xml_text(&text, "Code").map(one_line);
    let message = xml_text(&text, "Message").map(one_line);
    match (code, message) {
        (Some(c), Some(m)) => format!("HTTP {status}: {c}: {m}"),
        (Some(c), None) => format!("HTTP {status}: {c}"),
        _ => format!("HTTP {status}"),
    }
}

/// The text of the first `<tag>...</tag>` element in `xml`, entities decoded. The documents read
/// this way (error answers, STS credentials) are flat and fixed; a full XML parser is not
/// needed for them.
pub(crate) fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&close)?;
    let raw = xml[start..end].trim();
    Some(
        raw.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

/// Tokens are renewed this long before they expire.
const RENEW_BEFORE: Duration = Duration::from_secs(300);
/// Deadline of a call for a token or credentials.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// OAuth 2 access tokens (Entra ID, Google) by the credential that got them, kept until five
/// minutes before they expire.
pub(crate) struct TokenCache(Mutex<Option<HashMap<String, (String, SystemTime)>>>);

impl TokenCache {
    pub(crate) const fn new() -> Self {
        Self(Mutex::new(None))
    }

    pub(crate) async fn get_or_fetch(
        &self,
        key: &str,
        fetch: impl std::future::Future<Output = Result<(String, SystemTime), String>>,
    ) -> Result<String, String> {
        if let Some((token, expires)) = self
            .0
            .lock()
            .ok()
            .and_then(|m| m.as_ref()?.get(key).cloned())
        {
            if SystemTime::now() + RENEW_BEFORE < expires {
                return Ok(token);
            }
        }
        let (token, expires) = fetch.await?;
        if let Ok(mut m) = self.0.lock() {
            m.get_or_insert_with(HashMap::new)
                .insert(key.to_owned(), (token.clone(), expires));
        }
        Ok(token)
    }
}

/// An OAuth 2 token answer: `access_token` and when it expires.
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    /// Seconds (a number, or a string of digits from Azure's managed identity endpoints).
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    /// Unix seconds (Azure's managed identity endpoints).
    #[serde(default)]
    expires_on: Option<serde_json::Value>,
}

pub(crate) async fn token_call(
    url: &str,
    request: impl Fn() -> reqwest::RequestBuilder,
) -> Result<(String, SystemTime), String> {
    let policy = CallPolicy {
        timeout: CALL_TIMEOUT,
        max_retries: 2,
        ..CallPolicy::default()
    };
    let resp = outbound::send(policy, request)
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let status = resp.status();
    let body = outbound::read_limited(resp, 64 << 10)
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if !status.is_success() {
        let why: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let detail = why["error_description"]
            .as_str()
            .or(why["error"].as_str())
            .unwrap_or("");
        return Err(format!("{url}: HTTP {status} {detail}")
            .trim_end()
            .to_owned());
    }
    let a: TokenAnswer =
        serde_json::from_slice(&body).map_err(|e| format!("{url}: not a token answer: {e}"))?;
    let secs = |v: &Option<serde_json::Value>| -> Option<u64> {
        match v.as_ref()? {
            serde_json::Value::Number(n) => n.as_u64(),
            serde_json::Value::String(s) => s.parse().ok(),
            _ => None,
        }
    };
    let now = SystemTime::now();
    let expires = match (secs(&a.expires_on), secs(&a.expires_in)) {
        (Some(on), _) => SystemTime::UNIX_EPOCH + Duration::from_secs(on),
        (None, Some(inn)) => now + Duration::from_secs(inn),
        (None, None) => now + Duration::from_secs(600),
    };
    Ok((a.access_token, expires))
}

/// Go's `strconv.ParseBool`, which gocloud reads these parameters with.
pub(crate) fn go_bool(name: &str, value: &str) -> Result<bool, String> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("{name}: `{value}` is not a boolean")),
    }
}

/// `s` percent-decoded; an escape that is not UTF-8 (`%FF`) is refused, as gocloud refuses keys
/// that are not valid UTF-8.
pub(crate) fn percent_decode(s: &str) -> Result<String, String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| format!("`{s}` does not decode to UTF-8"))
}

/// An object store URL's parts: the bucket (or container), the object's name and the query's
/// parameters, each decoded.
pub(crate) struct UrlParts {
    pub(crate) bucket: String,
    pub(crate) name: String,
    pub(crate) params: Vec<(String, String)>,
}

impl UrlParts {
    /// Split `scheme://bucket/name?params` by hand: a URL type would resolve `.` and `..`
    /// segments of the name (`x/../y.json` read `y.json`, `..%2Fother-bucket%2Fk` another
    /// bucket), so such a name is refused instead, as is a parameter given twice.
    pub(crate) fn split(raw: &str, scheme: &str, shape: &str) -> Result<Self, String> {
        let rest = raw
            .strip_prefix(scheme)
            .and_then(|r| r.strip_prefix("://"))
            .ok_or_else(|| format!("expected {shape}"))?;
        let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (bucket, path) = rest.split_once('/').unwrap_or((rest, ""));
        let bucket = percent_decode(bucket)?;
        if bucket.is_empty() {
            return Err(format!("no bucket: expected {shape}"));
        }
        let name = percent_decode(path)?;
        if name.is_empty() {
            return Err(format!("no object name: expected {shape}"));
        }
        if name.split('/').any(|s| s == "." || s == "..") {
            return Err(format!(
                "the object name `{name}` has a `.` or `..` segment, which a request path cannot \
                 carry as written"
            ));
        }
        let mut params: Vec<(String, String)> = Vec::new();
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()).into_owned() {
            if params.iter().any(|(seen, _)| *seen == k) {
                return Err(format!("the parameter `{k}` is given twice"));
            }
            params.push((k, v));
        }
        Ok(Self {
            bucket,
            name,
            params,
        })
    }
}

/// An object name in a URL path, as the stores sign it: every byte but the unreserved ones and `/` percent-encoded.
pub(crate) fn encode(s: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b'/');
    percent_encoding::utf8_percent_encode(s, KEEP).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes() {
        assert!(Object::parse("https://example.com/rules.json").is_none());
        assert!(Object::parse("/etc/rules.json").is_none());
        let ok = Object::parse("gs://bucket/k.json");
        assert!(matches!(ok, Some(Ok(Object::Gcs(_)))), "{ok:?}");
        let ok = Object::parse("azblob://container/k.json?storage_account=acct");
        assert!(matches!(ok, Some(Ok(Object::Azure(_)))), "{ok:?}");
        let ok = Object::parse("s3://bucket/rules.json?region=eu-west-1");
        assert!(matches!(ok, Some(Ok(Object::S3(_)))), "{ok:?}");
    }

    #[test]
    fn xml_elements() {
        let doc = "<Error><Code>AccessDenied</Code><Message>a &amp; b &lt;c&gt;</Message></Error>";
        assert_eq!(xml_text(doc, "Code").as_deref(), Some("AccessDenied"));
        assert_eq!(xml_text(doc, "Message").as_deref(), Some("a & b <c>"));
        assert_eq!(xml_text(doc, "Key"), None);
        assert_eq!(xml_text("<Code>x", "Code"), None);
    }
}
