//! `gs://bucket/object`: an object in Google Cloud Storage, as gocloud.dev's `gcsblob` opener
//! reads it, with Application Default Credentials:
//!
//! 1. `GOOGLE_APPLICATION_CREDENTIALS`: a service account key (a JWT signed with its key is
//!    exchanged at its `token_uri`) or an `authorized_user` file (a refresh token);
//! 2. gcloud's file (`$CLOUDSDK_CONFIG` or `~/.config/gcloud/application_default_credentials.json`);
//! 3. the metadata server (GCE, GKE Workload Identity; `GCE_METADATA_HOST`).
//!
//! Objects are read from `https://storage.googleapis.com/<bucket>/<object>` with a bearer
//! token; `STORAGE_EMULATOR_HOST` sends them to an emulator unauthenticated, as Google's
//! client libraries do. `?anonymous=true` reads a public object unauthenticated.
//! Parameters `access_id` and `private_key_path` (gocloud's, for signing URLs) are accepted and
//! have nothing to do here.

use std::time::SystemTime;

use http::{HeaderMap, HeaderValue};
use serde::Deserialize;

use super::SignedGet;
use crate::outbound;

/// The scope asked for: reading objects is all gatehouse does.
const SCOPE: &str = "https://www.googleapis.com/auth/devstorage.read_only";
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

const PARAMS: &str = "anonymous, access_id, private_key_path";

/// An object and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcsObject {
    url: url::Url,
    /// Send no token (`?anonymous=true`, or an emulator).
    anonymous: bool,
}

impl GcsObject {
    /// Parse `gs://bucket/object?params`; `env` reads environment variables.
    pub fn parse(raw: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, String> {
        let super::UrlParts {
            bucket,
            name: object,
            params,
        } = super::UrlParts::split(raw, "gs", "gs://bucket/object")?;
        let mut anonymous = false;
        for (name, value) in params {
            match name.as_str() {
                "anonymous" => anonymous = super::go_bool(&name, &value)?,
                "access_id" | "private_key_path" => {}
                other => {
                    return Err(format!(
                        "unknown query parameter `{other}` (allowed: {PARAMS})"
                    ))
                }
            }
        }
        let base = match env("STORAGE_EMULATOR_HOST") {
            Some(h) if h.contains("://") => {
                anonymous = true;
                h
            }
            Some(h) => {
                anonymous = true;
                format!("http://{h}")
            }
            None => "https://storage.googleapis.com".to_owned(),
        };
        let mut url = url::Url::parse(&base).map_err(|e| format!("`{base}`: {e}"))?;
        let path = format!(
            "{}/{}/{}",
            url.path().trim_end_matches('/'),
            super::encode(&bucket),
            super::encode(&object)
        );
        url.set_path(&path);
        Ok(GcsObject { url, anonymous })
    }

    /// The object's URL.
    pub fn url(&self) -> &url::Url {
        &self.url
    }

    pub(super) async fn signed_get(&self, mut headers: HeaderMap) -> Result<SignedGet, String> {
        if !self.anonymous {
            let token = access_token(&super::aws::process_env)
                .await
                .map_err(|e| format!("Google credentials: {e}"))?;
            let value = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| "the access token is not a header value".to_owned())?;
            headers.insert(http::header::AUTHORIZATION, value);
        }
        Ok(SignedGet {
            url: self.url.clone(),
            headers,
        })
    }
}

/// A credentials file of Application Default Credentials.
#[derive(Deserialize)]
struct CredentialsFile {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    client_email: String,
    #[serde(default)]
    private_key: String,
    #[serde(default)]
    private_key_id: String,
    #[serde(default)]
    token_uri: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    client_secret: String,
    #[serde(default)]
    refresh_token: String,
}

/// Tokens by the credential that got them.
static TOKENS: super::TokenCache = super::TokenCache::new();

/// An access token from Application Default Credentials.
pub(crate) async fn access_token(
    env: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<String, String> {
    let file = match env("GOOGLE_APPLICATION_CREDENTIALS") {
        Some(f) => Some(f),
        None => {
            let dir = env("CLOUDSDK_CONFIG")
                .unwrap_or_else(|| format!("{}/.config/gcloud", env("HOME").unwrap_or_default()));
            let well_known = format!("{dir}/application_default_credentials.json");
            std::path::Path::new(&well_known)
                .exists()
                .then_some(well_known)
        }
    };
    let key = file.clone().unwrap_or_default();
    let fetch = async {
        match &file {
            Some(f) => from_file(f).await,
            None => metadata_server(env).await.map_err(|e| {
                format!(
                    "none found: no GOOGLE_APPLICATION_CREDENTIALS, no gcloud application \
                     default credentials, and the metadata server: {e}"
                )
            }),
        }
    };
    TOKENS.get_or_fetch(&key, fetch).await
}

async fn from_file(path: &str) -> Result<(String, SystemTime), String> {
    let text = tokio::fs::read_to_string(path)
        .await
        .map_err(|e| format!("{path}: {e}"))?;
    let c: CredentialsFile =
        serde_json::from_str(&text).map_err(|e| format!("{path}: not a credentials file: {e}"))?;
    let token_uri = match c.token_uri.is_empty() {
        true => DEFAULT_TOKEN_URI.to_owned(),
        false => c.token_uri.clone(),
    };
    let form: Vec<(&str, String)> = match c.kind.as_str() {
        "service_account" => {
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs();
            let claims = serde_json::json!({
                "iss": c.client_email,
                "scope": SCOPE,
                "aud": token_uri,
                "iat": now,
                "exp": now + 3600,
            });
            let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
            header.kid = (!c.private_key_id.is_empty()).then(|| c.private_key_id.clone());
            let key = jsonwebtoken::EncodingKey::from_rsa_pem(c.private_key.as_bytes())
                .map_err(|e| format!("{path}: private_key: {e}"))?;
            let assertion = jsonwebtoken::encode(&header, &claims, &key)
                .map_err(|e| format!("{path}: signing the assertion: {e}"))?;
            vec![
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:jwt-bearer".to_owned(),
                ),
                ("assertion", assertion),
            ]
        }
        "authorized_user" => vec![
            ("grant_type", "refresh_token".to_owned()),
            ("client_id", c.client_id),
            ("client_secret", c.client_secret),
            ("refresh_token", c.refresh_token),
        ],
        other => {
            return Err(format!(
                "{path}: credentials of type `{other}` are not supported (service_account and \
                 authorized_user are)"
            ))
        }
    };
    super::token_call(&token_uri, || {
        outbound::client().post(token_uri.as_str()).form(&form)
    })
    .await
}

async fn metadata_server(
    env: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<(String, SystemTime), String> {
    let host = env("GCE_METADATA_HOST").unwrap_or_else(|| "metadata.google.internal".to_owned());
    let url = format!(
        "http://{host}/computeMetadata/v1/instance/service-accounts/default/token?scopes={SCOPE}"
    );
    super::token_call(&url, || {
        outbound::client()
            .get(url.as_str())
            .header("metadata-flavor", "Google")
    })
    .await
}

#[cfg(test)]
#[path = "gcs_tests.rs"]
mod tests;
