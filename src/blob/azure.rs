//! `azblob://container/blob?params`: a blob in Azure Blob Storage, as gocloud.dev's
//! `azureblob` opener reads it.
//!
//! The account and its credential, in gocloud's order:
//! - `?cred_path=<file>`: a JSON file with `AccountName` and `AccountKey` or `SASToken` (the
//!   older openers' form);
//! - `AZURE_STORAGE_KEY` (with `AZURE_STORAGE_ACCOUNT` or `?storage_account=`): Shared Key;
//! - `AZURE_STORAGE_SAS_TOKEN` (with the account): a shared access signature appended to the
//!   URL;
//! - `AZURE_STORAGE_CONNECTION_STRING` / `AZURE_STORAGEBLOB_CONNECTIONSTRING` (`AccountName`,
//!   `AccountKey` or `SharedAccessSignature`, `BlobEndpoint` or `DefaultEndpointsProtocol` +
//!   `EndpointSuffix`; `UseDevelopmentStorage=true`);
//! - otherwise a Microsoft Entra ID token for `https://storage.azure.com/` (the SDK's default
//!   credential): a service principal's secret (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`,
//!   `AZURE_CLIENT_SECRET`), a workload identity (`AZURE_FEDERATED_TOKEN_FILE`: AKS), or a
//!   managed identity (App Service's `IDENTITY_ENDPOINT`, else the instance metadata service).
//!
//! The service URL: `<protocol>://<account>.<domain>` (`protocol`, `domain`, `cdn` and
//! `localemu` from the URL or `AZURE_STORAGE_PROTOCOL`, `AZURE_STORAGE_DOMAIN`,
//! `AZURE_STORAGE_IS_CDN`, `AZURE_STORAGE_IS_LOCAL_EMULATOR`); an emulator (Azurite) is
//! `<protocol>://<domain>/<account>`.

use std::collections::HashMap;
use std::time::SystemTime;

use base64::Engine as _;
use http::{HeaderMap, HeaderName, HeaderValue};
use ring::hmac;
use serde::Deserialize;

use super::SignedGet;
use crate::datetime::Utc;
use crate::outbound;

/// The REST API version requested (and signed).
const VERSION: &str = "2021-08-06";
/// Scope of the Entra ID tokens Blob Storage takes.
const SCOPE: &str = "https://storage.azure.com/.default";

const PARAMS: &str =
    "domain, protocol, cdn, localemu (or localemulator), storage_account, cred_path";

/// How requests for the blob are authorized.
#[derive(Clone, PartialEq, Eq)]
enum Auth {
    SharedKey {
        key: Vec<u8>,
    },
    /// A SAS token, already in the URL's query.
    Sas,
    /// A bearer token from Microsoft Entra ID.
    EntraId,
}

/// A blob and how to reach it.
#[derive(Clone, PartialEq, Eq)]
pub struct AzureBlob {
    account: String,
    url: url::Url,
    auth: Auth,
}

impl std::fmt::Debug for AzureBlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let auth = match self.auth {
            Auth::SharedKey { .. } => "shared key",
            Auth::Sas => "SAS",
            Auth::EntraId => "Entra ID",
        };
        f.debug_struct("AzureBlob")
            .field("account", &self.account)
            .field("url", &self.url.path())
            .field("auth", &auth)
            .finish()
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct CredFile {
    #[serde(default)]
    account_name: String,
    #[serde(default)]
    account_key: String,
    #[serde(default, rename = "SASToken")]
    sas_token: String,
}

impl AzureBlob {
    /// Parse `azblob://container/blob?params`; `env` reads environment variables.
    pub fn parse(raw: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, String> {
        let super::UrlParts {
            bucket: container,
            name,
            params,
        } = super::UrlParts::split(raw, "azblob", "azblob://container/blob")?;
        // Azure Storage reads `\` in a blob's name as `/`.
        let blob = name.replace('\\', "/");
        let (mut domain, mut protocol) =
            (env("AZURE_STORAGE_DOMAIN"), env("AZURE_STORAGE_PROTOCOL"));
        let flag = |name: &str| env(name).map(|v| super::go_bool(name, &v)).transpose();
        let (mut cdn, mut emulator) = (
            flag("AZURE_STORAGE_IS_CDN")?.unwrap_or(false),
            flag("AZURE_STORAGE_IS_LOCAL_EMULATOR")?.unwrap_or(false),
        );
        let (mut account, mut cred_path) = (env("AZURE_STORAGE_ACCOUNT"), None);
        for (name, value) in params {
            match name.as_str() {
                "domain" => domain = Some(value),
                "protocol" => protocol = Some(value),
                "cdn" => cdn = super::go_bool(&name, &value)?,
                "localemu" | "localemulator" => emulator = super::go_bool(&name, &value)?,
                "storage_account" => account = Some(value),
                "cred_path" => cred_path = Some(value),
                other => {
                    return Err(format!(
                        "unknown query parameter `{other}` (allowed: {PARAMS})"
                    ))
                }
            }
        }
        let protocol = protocol.unwrap_or_else(|| "https".to_owned());
        if !matches!(protocol.as_str(), "http" | "https") {
            return Err(format!("protocol `{protocol}`: expected http or https"));
        }
        let key_of = |k: &str| {
            base64::engine::general_purpose::STANDARD
                .decode(k.trim())
                .map_err(|_| "the account key is not base64".to_owned())
        };
        let conn = env("AZURE_STORAGE_CONNECTION_STRING")
            .or_else(|| env("AZURE_STORAGEBLOB_CONNECTIONSTRING"));
        let (account, auth, base, sas) = if let Some(path) = cred_path {
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("cred_path {path}: {e}"))?;
            let c: CredFile =
                serde_json::from_str(&text).map_err(|e| format!("cred_path {path}: {e}"))?;
            if c.account_name.is_empty() {
                return Err(format!("cred_path {path}: no AccountName"));
            }
            let (auth, sas) = match (c.account_key.is_empty(), c.sas_token.is_empty()) {
                (false, _) => (
                    Auth::SharedKey {
                        key: key_of(&c.account_key)?,
                    },
                    None,
                ),
                (true, false) => (Auth::Sas, Some(c.sas_token)),
                (true, true) => {
                    return Err(format!("cred_path {path}: neither AccountKey nor SASToken"))
                }
            };
            (c.account_name, auth, None, sas)
        } else if let (Some(key), Some(account)) = (env("AZURE_STORAGE_KEY"), account.clone()) {
            (account, Auth::SharedKey { key: key_of(&key)? }, None, None)
        } else if let (Some(sas), Some(account)) = (env("AZURE_STORAGE_SAS_TOKEN"), account.clone())
        {
            // gocloud's order: an account key, then a SAS token, then a connection string.
            (account, Auth::Sas, None, Some(sas))
        } else if let Some(conn) = conn {
            connection_string(&conn, &key_of)?
        } else if let Some(account) = account {
            (account, Auth::EntraId, None, None)
        } else {
            return Err(
                "no storage account: set AZURE_STORAGE_ACCOUNT (with AZURE_STORAGE_KEY, \
                 AZURE_STORAGE_SAS_TOKEN or an Entra ID identity), add ?storage_account=, or set \
                 AZURE_STORAGE_CONNECTION_STRING"
                    .to_owned(),
            );
        };
        let base = match base {
            Some(b) => b,
            None => {
                let domain = domain.unwrap_or_else(|| "blob.core.windows.net".to_owned());
                // As gocloud: a domain on the loopback host is an emulator.
                let emulator =
                    emulator || domain.starts_with("127.0.0.1") || domain.starts_with("localhost");
                match (emulator, cdn) {
                    (true, _) => format!("{protocol}://{domain}/{account}"),
                    (false, true) => format!("{protocol}://{domain}"),
                    (false, false) => format!("{protocol}://{account}.{domain}"),
                }
            }
        };
        let mut url = url::Url::parse(&base).map_err(|e| format!("service URL `{base}`: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(format!(
                "service URL `{base}`: expected an http:// or https:// URL"
            ));
        }
        let path = format!(
            "{}/{}/{}",
            url.path().trim_end_matches('/'),
            super::encode(&container),
            super::encode(&blob)
        );
        url.set_path(&path);
        if let Some(sas) = sas {
            url.set_query(Some(sas.trim_start_matches('?')));
        }
        Ok(AzureBlob { account, url, auth })
    }

    /// The blob's URL (SAS included).
    pub fn url(&self) -> &url::Url {
        &self.url
    }

    pub(super) async fn signed_get(&self, mut headers: HeaderMap) -> Result<SignedGet, String> {
        set(&mut headers, "x-ms-version", VERSION)?;
        set(&mut headers, "x-ms-date", &http_date(SystemTime::now()))?;
        let authorization = match &self.auth {
            Auth::SharedKey { key } => Some(self.shared_key(key, &headers)),
            Auth::Sas => None,
            Auth::EntraId => {
                let token = entra_token(&super::aws::process_env)
                    .await
                    .map_err(|e| format!("Entra ID token: {e}"))?;
                Some(format!("Bearer {token}"))
            }
        };
        if let Some(a) = authorization {
            set(&mut headers, "authorization", &a)?;
        }
        Ok(SignedGet {
            url: self.url.clone(),
            headers,
        })
    }

    /// The `Authorization` value of a GET with `headers` (Shared Key, Blob service).
    fn shared_key(&self, key: &[u8], headers: &HeaderMap) -> String {
        let h = |name: http::HeaderName| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
        };
        let mut ms: Vec<(&str, &str)> = headers
            .iter()
            .filter(|(n, _)| n.as_str().starts_with("x-ms-"))
            .map(|(n, v)| (n.as_str(), v.to_str().unwrap_or("")))
            .collect();
        ms.sort();
        let mut to_sign = format!(
            "GET\n\n\n\n\n\n\n{}\n{}\n{}\n{}\n{}\n{}\n",
            h(http::header::IF_MODIFIED_SINCE),
            h(http::header::IF_MATCH),
            h(http::header::IF_NONE_MATCH),
            h(http::header::IF_UNMODIFIED_SINCE),
            h(http::header::RANGE),
            ms.iter()
                .map(|(n, v)| format!("{n}:{}", v.trim()))
                .collect::<Vec<_>>()
                .join("\n"),
        );
        to_sign.push_str(&format!("/{}{}", self.account, self.url.path()));
        let mut query: Vec<(String, String)> = self
            .url
            .query_pairs()
            .map(|(k, v)| (k.to_lowercase(), v.into_owned()))
            .collect();
        query.sort();
        for (k, v) in query {
            to_sign.push_str(&format!("\n{k}:{v}"));
        }
        let mac = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), to_sign.as_bytes());
        format!(
            "SharedKey {}:{}",
            self.account,
            base64::engine::general_purpose::STANDARD.encode(mac.as_ref())
        )
    }
}

type Parsed = (String, Auth, Option<String>, Option<String>);

/// An Azure Storage connection string: account, credential, and blob endpoint.
fn connection_string(
    conn: &str,
    key_of: &dyn Fn(&str) -> Result<Vec<u8>, String>,
) -> Result<Parsed, String> {
    let mut parts: HashMap<String, String> = HashMap::new();
    for part in conn.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').ok_or_else(|| {
            format!(
                "connection string: `{}` is not Name=value",
                part.split('=').next().unwrap_or("")
            )
        })?;
        parts.insert(k.trim().to_owned(), v.trim().to_owned());
    }
    if parts
        .get("UseDevelopmentStorage")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        // Azurite's well-known development account.
        parts
            .entry("AccountName".into())
            .or_insert_with(|| "devstoreaccount1".into());
        parts.entry("AccountKey".into()).or_insert_with(|| {
            "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==".into()
        });
        parts
            .entry("BlobEndpoint".into())
            .or_insert_with(|| "http://127.0.0.1:10000/devstoreaccount1".into());
    }
    // A SAS connection string (the portal's) names no account: its endpoint does (the host's
    // first label, or the first path segment of an emulator's).
    let from_endpoint = parts.get("BlobEndpoint").and_then(|e| {
        let u = url::Url::parse(e).ok()?;
        let host = u.host_str()?;
        match u.host() {
            Some(url::Host::Domain(d)) if d != "localhost" => {
                d.split('.').next().map(str::to_owned)
            }
            _ => u
                .path_segments()?
                .next()
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        }
        .filter(|_| !host.is_empty())
    });
    let account = parts
        .get("AccountName")
        .cloned()
        .or(from_endpoint)
        .ok_or("connection string: no AccountName (and no BlobEndpoint to take it from)")?;
    let (auth, sas) = match (parts.get("AccountKey"), parts.get("SharedAccessSignature")) {
        (Some(k), _) => (Auth::SharedKey { key: key_of(k)? }, None),
        (None, Some(s)) => (Auth::Sas, Some(s.clone())),
        (None, None) => (Auth::EntraId, None),
    };
    let base = match parts.get("BlobEndpoint") {
        Some(e) => e.clone(),
        None => format!(
            "{}://{account}.blob.{}",
            parts
                .get("DefaultEndpointsProtocol")
                .map_or("https", String::as_str),
            parts
                .get("EndpointSuffix")
                .map_or("core.windows.net", String::as_str)
        ),
    };
    Ok((account, auth, Some(base), sas))
}

fn set(headers: &mut HeaderMap, name: &'static str, value: &str) -> Result<(), String> {
    let v = HeaderValue::from_str(value).map_err(|_| format!("bad `{name}` value"))?;
    headers.insert(HeaderName::from_static(name), v);
    Ok(())
}

/// RFC 1123 in GMT (`Wed, 25 Nov 2026 02:54:18 GMT`), as `x-ms-date` takes it.
pub(crate) fn http_date(t: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let u = Utc::of(t);
    let days = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
        / 86_400;
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        u.day,
        MONTHS[(u.month - 1) as usize % 12],
        u.year,
        u.hour,
        u.minute,
        u.second
    )
}

/// Entra ID tokens, by the identity that got them.
static TOKENS: super::TokenCache = super::TokenCache::new();

/// A token for Blob Storage from the first identity the environment offers.
pub(crate) async fn entra_token(
    env: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<String, String> {
    let identity = format!(
        "{}|{}",
        env("AZURE_TENANT_ID").unwrap_or_default(),
        env("AZURE_CLIENT_ID").unwrap_or_default()
    );
    TOKENS.get_or_fetch(&identity, fetch_entra_token(env)).await
}

async fn fetch_entra_token(
    env: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<(String, SystemTime), String> {
    let authority = env("AZURE_AUTHORITY_HOST")
        .unwrap_or_else(|| "https://login.microsoftonline.com".to_owned());
    let authority = authority.trim_end_matches('/');
    if let (Some(tenant), Some(client)) = (env("AZURE_TENANT_ID"), env("AZURE_CLIENT_ID")) {
        let url = format!("{authority}/{tenant}/oauth2/v2.0/token");
        if let Some(secret) = env("AZURE_CLIENT_SECRET") {
            let form = vec![
                ("grant_type", "client_credentials".to_owned()),
                ("client_id", client),
                ("client_secret", secret),
                ("scope", SCOPE.to_owned()),
            ];
            return super::token_call(&url, || outbound::client().post(url.as_str()).form(&form))
                .await;
        }
        if let Some(file) = env("AZURE_FEDERATED_TOKEN_FILE") {
            let assertion = tokio::fs::read_to_string(&file)
                .await
                .map_err(|e| format!("federated token file {file}: {e}"))?;
            let form = vec![
                ("grant_type", "client_credentials".to_owned()),
                ("client_id", client),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
                ),
                ("client_assertion", assertion.trim().to_owned()),
                ("scope", SCOPE.to_owned()),
            ];
            return super::token_call(&url, || outbound::client().post(url.as_str()).form(&form))
                .await;
        }
    }
    let resource = "https://storage.azure.com/";
    let client = env("AZURE_CLIENT_ID");
    if let (Some(endpoint), Some(header)) = (env("IDENTITY_ENDPOINT"), env("IDENTITY_HEADER")) {
        let url = with_query(&endpoint, "2019-08-01", resource, client.as_deref())?;
        return super::token_call(&endpoint, || {
            outbound::client()
                .get(url.clone())
                .header("x-identity-header", header.as_str())
        })
        .await;
    }
    let imds = env("AZURE_POD_IDENTITY_AUTHORITY_HOST")
        .unwrap_or_else(|| "http://169.254.169.254".to_owned());
    let endpoint = format!(
        "{}/metadata/identity/oauth2/token",
        imds.trim_end_matches('/')
    );
    let url = with_query(&endpoint, "2018-02-01", resource, client.as_deref())?;
    super::token_call(&endpoint, || {
        outbound::client()
            .get(url.clone())
            .header("metadata", "true")
    })
    .await
    .map_err(|e| {
        format!(
            "none found: no AZURE_TENANT_ID + AZURE_CLIENT_ID with AZURE_CLIENT_SECRET or \
             AZURE_FEDERATED_TOKEN_FILE, no IDENTITY_ENDPOINT, and the managed identity \
             endpoint: {e}"
        )
    })
}

/// A managed identity endpoint's URL with its query.
fn with_query(
    endpoint: &str,
    version: &str,
    resource: &str,
    client: Option<&str>,
) -> Result<url::Url, String> {
    let mut query = vec![("api-version", version), ("resource", resource)];
    if let Some(c) = client {
        query.push(("client_id", c));
    }
    url::Url::parse_with_params(endpoint, &query).map_err(|e| format!("{endpoint}: {e}"))
}

#[cfg(test)]
#[path = "azure_tests.rs"]
mod tests;
