//! AWS credentials, found as the AWS SDKs' default chain finds them (gocloud.dev's `s3blob`,
//! which Oathkeeper reads `s3://` sources with, uses that chain):
//!
//! 1. the profile named by `?profile=`: its keys, or its web identity role;
//! 2. `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`);
//! 3. `AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN` (EKS service accounts): STS
//!    `AssumeRoleWithWebIdentity`;
//! 4. the profile `AWS_PROFILE` names (else `default`) in `~/.aws/credentials` and
//!    `~/.aws/config` (`AWS_SHARED_CREDENTIALS_FILE`, `AWS_CONFIG_FILE`);
//! 5. the container endpoint (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` or `_FULL_URI`, with
//!    `AWS_CONTAINER_AUTHORIZATION_TOKEN(_FILE)`: ECS tasks, EKS Pod Identity);
//! 6. the instance metadata service (IMDSv2, then v1; `AWS_EC2_METADATA_SERVICE_ENDPOINT`,
//!    `AWS_EC2_METADATA_DISABLED`).
//!
//! Temporary credentials are kept until five minutes before they expire, then fetched again.
//! Profiles that assume a role from another profile, run a `credential_process` or sign in with
//! SSO are refused with that message. Endpoints can be moved with `AWS_ENDPOINT_URL_STS` /
//! `AWS_ENDPOINT_URL`, as in the current SDKs.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde::Deserialize;

use crate::outbound::{self, CallPolicy};

/// Deadline of a call to the instance metadata service (the last link of the chain: off EC2
/// it does not answer, and the chain's error should come quickly).
const IMDS_TIMEOUT: Duration = Duration::from_secs(2);

/// A set of AWS credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
    /// When temporary credentials expire.
    pub expires: Option<SystemTime>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

/// An environment variable of the process; empty is unset.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Temporary credentials by the profile they were found for (`""`: the default chain).
static CACHE: Mutex<Option<HashMap<String, Credentials>>> = Mutex::new(None);

/// The credentials for `profile` (or the default chain), for calls in `region`.
pub async fn credentials(profile: Option<&str>, region: &str) -> Result<Credentials, String> {
    let cache_key = profile.unwrap_or_default().to_owned();
    if let Some(c) = CACHE
        .lock()
        .ok()
        .and_then(|m| m.as_ref()?.get(&cache_key).cloned())
    {
        if c.expires
            .is_some_and(|e| SystemTime::now() + super::RENEW_BEFORE < e)
        {
            return Ok(c);
        }
    }
    let found = Chain {
        env: &process_env,
        region,
    }
    .resolve(profile)
    .await?;
    if found.expires.is_some() {
        if let Ok(mut m) = CACHE.lock() {
            m.get_or_insert_with(HashMap::new)
                .insert(cache_key, found.clone());
        }
    }
    Ok(found)
}

/// The region a profile's config sets (`region = ...` in `~/.aws/config`).
pub fn profile_region(
    profile: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<String> {
    let files = Files::read(env);
    files
        .config(profile.unwrap_or("default"))
        .and_then(|s| s.get("region").cloned())
}

/// One walk of the chain.
pub(crate) struct Chain<'a> {
    pub(crate) env: &'a (dyn Fn(&str) -> Option<String> + Sync),
    pub(crate) region: &'a str,
}

impl Chain<'_> {
    pub(crate) async fn resolve(&self, profile: Option<&str>) -> Result<Credentials, String> {
        let env = self.env;
        if let Some(name) = profile {
            return match self.profile(name).await? {
                Some(c) => Ok(c),
                None => Err(format!("the profile `{name}` has no credentials")),
            };
        }
        if let Some(c) = self.env_keys() {
            return Ok(c);
        }
        if let (Some(file), Some(role)) = (env("AWS_WEB_IDENTITY_TOKEN_FILE"), env("AWS_ROLE_ARN"))
        {
            return self
                .web_identity(&file, &role, env("AWS_ROLE_SESSION_NAME"))
                .await;
        }
        let name = env("AWS_PROFILE").unwrap_or_else(|| "default".to_owned());
        if let Some(c) = self.profile(&name).await? {
            return Ok(c);
        }
        if let Some(c) = self.container().await? {
            return Ok(c);
        }
        self.instance_metadata().await.map_err(|e| {
            format!(
                "none found: no AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, no web identity \
                 (AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN), no keys in the default profile, no \
                 container endpoint, and the instance metadata service: {e}"
            )
        })
    }

    fn env_keys(&self) -> Option<Credentials> {
        let env = self.env;
        let id = env("AWS_ACCESS_KEY_ID").or_else(|| env("AWS_ACCESS_KEY"))?;
        let secret = env("AWS_SECRET_ACCESS_KEY").or_else(|| env("AWS_SECRET_KEY"))?;
        Some(Credentials {
            access_key_id: id,
            secret_access_key: secret,
            session_token: env("AWS_SESSION_TOKEN"),
            expires: None,
        })
    }

    /// A profile's credentials; `Ok(None)` when it has none (or, for `default`, is absent).
    async fn profile(&self, name: &str) -> Result<Option<Credentials>, String> {
        let files = Files::read(self.env);
        let creds = files.credentials.get(name);
        let config = files.config(name);
        if name != "default" && creds.is_none() && config.is_none() {
            return Err(format!(
                "the profile `{name}` is in neither {} nor {}",
                files.credentials_path.display(),
                files.config_path.display()
            ));
        }
        for section in [creds, config].into_iter().flatten() {
            if let (Some(id), Some(secret)) = (
                section.get("aws_access_key_id"),
                section.get("aws_secret_access_key"),
            ) {
                return Ok(Some(Credentials {
                    access_key_id: id.clone(),
                    secret_access_key: secret.clone(),
                    session_token: section.get("aws_session_token").cloned(),
                    expires: None,
                }));
            }
        }
        let Some(config) = config else {
            return Ok(None);
        };
        if let (Some(file), Some(role)) = (
            config.get("web_identity_token_file"),
            config.get("role_arn"),
        ) {
            return self
                .web_identity(file, role, config.get("role_session_name").cloned())
                .await
                .map(Some);
        }
        for (key, what) in [
            ("source_profile", "assuming a role from another profile"),
            ("credential_source", "assuming a role from another source"),
            ("credential_process", "a credential_process"),
            ("sso_session", "SSO"),
            ("sso_start_url", "SSO"),
        ] {
            if config.contains_key(key) {
                return Err(format!(
                    "the profile `{name}` uses {what} (`{key}`), which is not supported; give it \
                     keys or a web identity role, or use the environment's credentials"
                ));
            }
        }
        Ok(None)
    }

    /// STS `AssumeRoleWithWebIdentity` with the token in `file` (an unsigned call).
    async fn web_identity(
        &self,
        file: &str,
        role: &str,
        session: Option<String>,
    ) -> Result<Credentials, String> {
        let token = tokio::fs::read_to_string(file)
            .await
            .map_err(|e| format!("web identity token file {file}: {e}"))?;
        let env = self.env;
        let region = env("AWS_REGION")
            .or_else(|| env("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| self.region.to_owned());
        let endpoint = env("AWS_ENDPOINT_URL_STS")
            .or_else(|| env("AWS_ENDPOINT_URL"))
            .unwrap_or_else(|| match region.is_empty() {
                true => "https://sts.amazonaws.com".to_owned(),
                false => format!("https://sts.{region}.amazonaws.com"),
            });
        let session = session.unwrap_or_else(|| {
            let nanos = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos();
            format!("gatehouse-{nanos}")
        });
        let form = [
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", "2011-06-15"),
            ("RoleArn", role),
            ("RoleSessionName", session.as_str()),
            ("WebIdentityToken", token.trim()),
        ];
        let resp = outbound::send(policy(super::CALL_TIMEOUT, 2), || {
            outbound::client().post(endpoint.as_str()).form(&form)
        })
        .await
        .map_err(|e| format!("STS at {endpoint}: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("STS at {endpoint}: {}", super::failure(resp).await));
        }
        let body = outbound::read_limited(resp, 64 << 10)
            .await
            .map_err(|e| format!("STS at {endpoint}: {e}"))?;
        let xml = String::from_utf8_lossy(&body);
        let field = |tag: &str| {
            super::xml_text(&xml, tag)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("STS at {endpoint}: the answer has no {tag}"))
        };
        Ok(Credentials {
            access_key_id: field("AccessKeyId")?,
            secret_access_key: field("SecretAccessKey")?,
            session_token: Some(field("SessionToken")?),
            expires: crate::datetime::parse_rfc3339(&field("Expiration")?),
        })
    }

    /// The container credentials endpoint, when the environment names one.
    async fn container(&self) -> Result<Option<Credentials>, String> {
        let env = self.env;
        let url = match (
            env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
            env("AWS_CONTAINER_CREDENTIALS_FULL_URI"),
        ) {
            (Some(rel), _) => format!("http://169.254.170.2{rel}"),
            (None, Some(full)) => full,
            (None, None) => return Ok(None),
        };
        let token = match env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE") {
            Some(file) => Some(
                tokio::fs::read_to_string(&file)
                    .await
                    .map_err(|e| format!("container authorization token file {file}: {e}"))?
                    .trim()
                    .to_owned(),
            ),
            None => env("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
        };
        let resp = outbound::send(policy(super::CALL_TIMEOUT, 2), || {
            let b = outbound::client().get(url.as_str());
            match &token {
                Some(t) => b.header(http::header::AUTHORIZATION, t.as_str()),
                None => b,
            }
        })
        .await
        .map_err(|e| format!("container endpoint {url}: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("container endpoint {url}: HTTP {}", resp.status()));
        }
        read_json_credentials(resp, &url).await.map(Some)
    }

    /// The instance metadata service: IMDSv2 (a session token first), or v1 when the token
    /// call is refused.
    async fn instance_metadata(&self) -> Result<Credentials, String> {
        let env = self.env;
        if env("AWS_EC2_METADATA_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Err("disabled (AWS_EC2_METADATA_DISABLED)".to_owned());
        }
        let base = env("AWS_EC2_METADATA_SERVICE_ENDPOINT")
            .unwrap_or_else(|| "http://169.254.169.254".to_owned());
        let base = base.trim_end_matches('/');
        const TOKEN: &str = "x-aws-ec2-metadata-token";
        let resp = outbound::send(policy(IMDS_TIMEOUT, 0), || {
            outbound::client()
                .put(format!("{base}/latest/api/token"))
                .header("x-aws-ec2-metadata-token-ttl-seconds", "21600")
        })
        .await
        .map_err(|e| format!("{base}: {e}"))?;
        let token = match resp.status().as_u16() {
            200 => Some(
                String::from_utf8_lossy(
                    &outbound::read_limited(resp, 4 << 10)
                        .await
                        .map_err(|e| format!("{base}: {e}"))?,
                )
                .trim()
                .to_owned(),
            ),
            403..=405 => None,
            other => return Err(format!("{base}: the token call answered HTTP {other}")),
        };
        let get = |url: String| {
            let token = token.clone();
            async move {
                let resp = outbound::send(policy(IMDS_TIMEOUT, 1), || {
                    let b = outbound::client().get(url.as_str());
                    match &token {
                        Some(t) => b.header(TOKEN, t.as_str()),
                        None => b,
                    }
                })
                .await
                .map_err(|e| format!("{url}: {e}"))?;
                match resp.status().is_success() {
                    true => Ok(resp),
                    false => Err(format!("{url}: HTTP {}", resp.status())),
                }
            }
        };
        let roles_url = format!("{base}/latest/meta-data/iam/security-credentials/");
        let roles = get(roles_url.clone()).await?;
        let roles = outbound::read_limited(roles, 4 << 10)
            .await
            .map_err(|e| format!("{roles_url}: {e}"))?;
        let roles = String::from_utf8_lossy(&roles);
        let role = roles
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .ok_or_else(|| format!("{roles_url}: no role attached to the instance"))?;
        let url = format!("{roles_url}{role}");
        read_json_credentials(get(url.clone()).await?, &url).await
    }
}

fn policy(timeout: Duration, max_retries: u32) -> CallPolicy {
    CallPolicy {
        timeout,
        max_retries,
        ..CallPolicy::default()
    }
}

/// The JSON form of the container and instance metadata endpoints.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct JsonCredentials {
    access_key_id: String,
    secret_access_key: String,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    expiration: Option<String>,
    /// The instance metadata service says `Success` when the rest is good.
    #[serde(default)]
    code: Option<String>,
}

async fn read_json_credentials(resp: reqwest::Response, url: &str) -> Result<Credentials, String> {
    let body = outbound::read_limited(resp, 64 << 10)
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let c: JsonCredentials =
        serde_json::from_slice(&body).map_err(|e| format!("{url}: not credentials: {e}"))?;
    if let Some(code) = c.code.filter(|c| c != "Success") {
        return Err(format!("{url}: answered Code {code}"));
    }
    if c.access_key_id.is_empty() || c.secret_access_key.is_empty() {
        return Err(format!("{url}: empty credentials"));
    }
    Ok(Credentials {
        access_key_id: c.access_key_id,
        secret_access_key: c.secret_access_key,
        session_token: c.token.filter(|t| !t.is_empty()),
        expires: c
            .expiration
            .as_deref()
            .and_then(crate::datetime::parse_rfc3339),
    })
}

/// The shared credentials and config files, by section.
struct Files {
    credentials_path: PathBuf,
    config_path: PathBuf,
    credentials: HashMap<String, HashMap<String, String>>,
    config: HashMap<String, HashMap<String, String>>,
}

impl Files {
    fn read(env: &dyn Fn(&str) -> Option<String>) -> Self {
        let home = env("HOME").unwrap_or_default();
        let credentials_path = PathBuf::from(
            env("AWS_SHARED_CREDENTIALS_FILE")
                .unwrap_or_else(|| format!("{home}/.aws/credentials")),
        );
        let config_path =
            PathBuf::from(env("AWS_CONFIG_FILE").unwrap_or_else(|| format!("{home}/.aws/config")));
        let read = |p: &PathBuf| {
            std::fs::read_to_string(p)
                .map(|t| ini(&t))
                .unwrap_or_default()
        };
        Files {
            credentials: read(&credentials_path),
            config: read(&config_path),
            credentials_path,
            config_path,
        }
    }

    /// A profile's section of the config file (`[profile name]`, or `[default]`).
    fn config(&self, name: &str) -> Option<&HashMap<String, String>> {
        self.config
            .get(&format!("profile {name}"))
            .or_else(|| match name {
                "default" => self.config.get("default"),
                _ => None,
            })
    }
}

/// The sections of an AWS INI file: `[name]` headers, `key = value` lines, `#` and `;`
/// comments; indented lines (a nested block's settings) are skipped.
fn ini(text: &str) -> HashMap<String, HashMap<String, String>> {
    let mut out: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut section: Option<String> = None;
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let line = line.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
            out.entry(name.clone()).or_default();
            section = Some(name);
            continue;
        }
        if let (Some(s), Some((k, v))) = (&section, line.split_once('=')) {
            if let Some(map) = out.get_mut(s) {
                map.insert(k.trim().to_owned(), v.trim().to_owned());
            }
        }
    }
    out
}

#[cfg(test)]
#[path = "aws_tests.rs"]
mod tests;
