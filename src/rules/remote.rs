//! Remote rule repositories, `http(s)://` and `s3://` (DESIGN §3): fetched at start-up, polled
//! with conditional requests (ETag / If-Modified-Since), and the last good copy kept when a
//! fetch fails. An S3 object is read with a signed GET (`crate::blob`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use http::header::{ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
use http::StatusCode;

use super::repository::{decode_document, RuleDocument};
use super::LoadError;
use crate::outbound::{self, CallPolicy};

/// Deadline of one repository fetch.
const FETCH_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, Clone)]
struct Entry {
    etag: Option<String>,
    last_modified: Option<String>,
    docs: Vec<RuleDocument>,
}

/// Last good copy of every remote repository.
#[derive(Debug, Default)]
pub struct RemoteStore {
    entries: Mutex<HashMap<String, Entry>>,
}

/// The outcome of one fetch.
#[derive(Debug)]
pub struct Fetched {
    pub docs: Vec<RuleDocument>,
    /// The content differs from the copy held before.
    pub changed: bool,
    /// The fetch failed and these are the last good copy's documents.
    pub stale: bool,
}

impl RemoteStore {
    /// The documents of `url`: the held copy unless `refresh` (or none is held yet), in which
    /// case a conditional GET decides. A failed fetch falls back to the held copy.
    pub async fn get(&self, url: &str, refresh: bool) -> Result<Fetched, Vec<LoadError>> {
        let held = self.entries.lock().ok().and_then(|m| m.get(url).cloned());
        if let (Some(h), false) = (&held, refresh) {
            return Ok(Fetched {
                docs: h.docs.clone(),
                changed: false,
                stale: false,
            });
        }
        match fetch(url, held.as_ref()).await {
            Ok(None) => Ok(Fetched {
                docs: held.map(|h| h.docs).unwrap_or_default(),
                changed: false,
                stale: false,
            }),
            Ok(Some(entry)) => {
                let docs = entry.docs.clone();
                if let Ok(mut m) = self.entries.lock() {
                    m.insert(url.to_string(), entry);
                }
                Ok(Fetched {
                    docs,
                    changed: true,
                    stale: false,
                })
            }
            Err(errors) => match held {
                Some(h) => {
                    for e in &errors {
                        tracing::warn!(repository = url, error = %e, "keeping the last good copy of a remote rule repository");
                    }
                    Ok(Fetched {
                        docs: h.docs,
                        changed: false,
                        stale: true,
                    })
                }
                None => Err(errors),
            },
        }
    }

    /// Forget repositories no longer configured.
    pub fn retain(&self, urls: &[String]) {
        if let Ok(mut m) = self.entries.lock() {
            m.retain(|k, _| urls.contains(k));
        }
    }
}

/// The largest remote rule document read (10,000 rules take about 3 MB): a larger answer is
/// refused while it is read, not held whole first.
const MAX_DOCUMENT: usize = 64 << 20;

/// A header whose value came from a server's answer (dropped if it is not a valid value).
fn valid_header(
    name: http::HeaderName,
    value: &str,
) -> Option<(http::HeaderName, http::HeaderValue)> {
    http::HeaderValue::from_str(value).ok().map(|v| (name, v))
}

/// `Ok(None)`: not modified.
async fn fetch(url: &str, held: Option<&Entry>) -> Result<Option<Entry>, Vec<LoadError>> {
    let err = |m: String| vec![LoadError::source(url, m)];
    // The entity tag when there is one: `If-Modified-Since` counts whole seconds, so a document
    // replaced within the second of the last fetch would look unchanged to a server that weighs
    // it next to a changed tag (S3 does).
    let mut conditional = http::HeaderMap::new();
    match held.map(|h| (&h.etag, &h.last_modified)) {
        Some((Some(e), _)) => conditional.extend(valid_header(IF_NONE_MATCH, e)),
        Some((None, Some(lm))) => conditional.extend(valid_header(IF_MODIFIED_SINCE, lm)),
        _ => {}
    }
    // An object store signs the conditional headers with the rest (Azure's Shared Key does).
    let signed = match crate::blob::Object::parse(url) {
        Some(Ok(object)) => Some(
            object
                .get(conditional.clone())
                .await
                .map_err(|e| err(format!("fetch failed: {e}")))?,
        ),
        Some(Err(e)) => return Err(err(e)),
        None => None,
    };
    let resp = outbound::send(
        CallPolicy {
            timeout: FETCH_TIMEOUT,
            ..CallPolicy::default()
        },
        || match &signed {
            Some(s) => s.request(),
            None => outbound::client().get(url).headers(conditional.clone()),
        },
    )
    .await
    .map_err(|e| err(format!("fetch failed: {e}")))?;
    let status = resp.status();
    if status == StatusCode::NOT_MODIFIED && held.is_some() {
        return Ok(None);
    }
    if !status.is_success() {
        let why = match signed {
            Some(_) => crate::blob::failure(resp).await,
            None => format!("HTTP {status}"),
        };
        return Err(err(format!("fetch failed: {why}")));
    }
    let header = |n: http::HeaderName| {
        resp.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let etag = header(ETAG);
    let last_modified = header(LAST_MODIFIED);
    let body = outbound::read_limited(resp, MAX_DOCUMENT)
        .await
        .map_err(|e| err(format!("reading body: {e}")))?;
    let doc = decode_document(url, &body)?;
    // An emptied document is refused (as an emptied local file is), and it is not kept as the
    // last good copy: kept, it stood in every later reload and refused them all.
    if doc.blank {
        return Err(err(
            "the document is empty (write `[]` to remove its rules); the last good copy stays"
                .to_owned(),
        ));
    }
    if let Some(h) = held {
        if h.docs.len() == 1 && h.docs[0].rules == doc.rules {
            return Ok(None);
        }
    }
    Ok(Some(Entry {
        etag,
        last_modified,
        docs: vec![doc],
    }))
}
