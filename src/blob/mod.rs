//! Documents in cloud object stores: rule repositories and JWKS documents named by an `s3://`
//! URL (SPEC §2.5 `access_rules.repositories`, §2.6 `jwks_urls`), read as Oathkeeper reads them
//! through gocloud.dev's blob packages: `s3://bucket/key?region=...&endpoint=...`.
//!
//! An object is fetched with one signed HTTP GET (AWS Signature Version 4), so it goes through
//! the same pooled client, deadline, retries and size limits as an `http(s)://` source, and a
//! rule repository is polled with the same conditional requests (S3 answers `If-None-Match`
//! with 304). Credentials come from the AWS SDKs' default chain (`aws.rs`).
//!
//! `gs://` and `azblob://` are refused with that message when the config loads.
//!
//! # Layout
//! - `s3.rs`: the URL's parameters, the object's address, the request signature.
//! - `aws.rs`: the credential chain (environment, shared files and profiles, web identity,
//!   container and instance metadata endpoints) and the cache of temporary credentials.

pub mod aws;
pub mod azure;
pub mod s3;
#[cfg(test)]
mod stub;

use http::HeaderMap;

pub use azure::AzureBlob;
pub use s3::S3Object;

/// An object in a cloud object store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Object {
    S3(S3Object),
    Azure(AzureBlob),
}

impl Object {
    /// `None` when `url` names no object store (its scheme is another one); an error when it
    /// names one that cannot be read (an unsupported store, a bad parameter, no region).
    pub fn parse(url: &str) -> Option<Result<Object, String>> {
        let (scheme, _) = url.split_once("://")?;
        match scheme {
            "s3" => Some(S3Object::parse(url, &aws::process_env).map(Object::S3)),
            "azblob" => Some(AzureBlob::parse(url, &aws::process_env).map(Object::Azure)),
            "gs" => Some(Err(
                "gs:// (Google Cloud Storage) is not supported; serve the document over https://, \
                 or keep it in S3 (s3://) or Azure Blob Storage (azblob://)"
                    .to_owned(),
            )),
            _ => None,
        }
    }

    /// The object's GET request with `headers` (conditional ones), signed now (credentials are
    /// looked up, and fetched when they are temporary and expire soon).
    pub async fn get(&self, headers: HeaderMap) -> Result<SignedGet, String> {
        match self {
            Object::S3(o) => o.signed_get(headers).await,
            Object::Azure(o) => o.signed_get(headers).await,
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
    let code = xml_text(&text, "Code");
    let message = xml_text(&text, "Message");
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

/// Go's `strconv.ParseBool`, which gocloud reads these parameters with.
pub(crate) fn go_bool(name: &str, value: &str) -> Result<bool, String> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("{name}: `{value}` is not a boolean")),
    }
}

pub(crate) fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
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
        let err = Object::parse("gs://b/k.json")
            .expect("object store")
            .expect_err("gs");
        assert!(
            err.contains("gs:// (Google Cloud Storage) is not supported"),
            "{err}"
        );
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
