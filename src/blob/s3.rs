//! `s3://bucket/key?params`: the object's address and the signed GET that reads it.
//!
//! Parameters are those of gocloud.dev's `s3blob` URL opener, under both of its SDKs' names:
//! `region`, `endpoint`, `disableSSL` / `disable_https`, `s3ForcePathStyle` / `use_path_style`,
//! `profile`, `anonymous`, `dualstack`, `fips`, and `awssdk` (accepted, nothing to choose here).
//! Any other parameter is an error, as it is there. `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL`
//! set an endpoint for every object, as in the current SDKs.
//!
//! The key is the URL's path, percent-decoded (`s3://b/a%20b.json` reads the key `a b.json`).
//! The bucket is addressed as a host name (`bucket.s3.<region>.amazonaws.com`) unless path style
//! is asked for, the bucket's name is not a valid host label, or the endpoint is an IP address
//! or `localhost` (where no per-bucket host name can resolve).

use std::time::SystemTime;

use http::{HeaderMap, HeaderName, HeaderValue};
use ring::hmac;
use sha2::{Digest, Sha256};

use super::aws::{self, Credentials};
use super::SignedGet;
use crate::datetime::Utc;

/// SHA-256 of an empty payload (a GET's body).
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

const PARAMS: &str = "region, endpoint, disableSSL, disable_https, s3ForcePathStyle, \
                      use_path_style, profile, anonymous, dualstack, fips, awssdk";

/// An S3 object and how to reach it.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Object {
    bucket: String,
    key: String,
    region: String,
    /// The object's URL, key percent-encoded as signed.
    url: url::Url,
    /// The `Host` header as sent (`host` or `host:port`).
    host: String,
    /// Named profile for credentials (`?profile=`), else the chain's default.
    profile: Option<String>,
    /// Send the request unsigned (`?anonymous=true`, a public object).
    anonymous: bool,
}

impl std::fmt::Debug for S3Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Object")
            .field("bucket", &self.bucket)
            .field("key", &self.key)
            .field("region", &self.region)
            .field("url", &self.url.as_str())
            .finish()
    }
}

impl S3Object {
    /// Parse `s3://bucket/key?params`; `env` reads environment variables (the process's, or a
    /// test's).
    pub fn parse(raw: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, String> {
        let super::UrlParts {
            bucket,
            name: key,
            params,
        } = super::UrlParts::split(raw, "s3", "s3://bucket/key")?;
        let mut p = Params::default();
        for (name, value) in params {
            match name.as_str() {
                "region" => p.region = Some(value),
                "endpoint" => p.endpoint = Some(value),
                "disableSSL" | "disable_https" => p.http = super::go_bool(&name, &value)?,
                "s3ForcePathStyle" | "use_path_style" => {
                    p.path_style = super::go_bool(&name, &value)?
                }
                "profile" => p.profile = Some(value),
                "anonymous" => p.anonymous = super::go_bool(&name, &value)?,
                "dualstack" => p.dualstack = super::go_bool(&name, &value)?,
                "fips" => p.fips = super::go_bool(&name, &value)?,
                "awssdk" if matches!(value.as_str(), "" | "v1" | "V1" | "v2" | "V2") => {}
                "awssdk" => return Err(format!("awssdk: `{value}` is not v1 or v2")),
                other => {
                    return Err(format!(
                        "unknown query parameter `{other}` (allowed: {PARAMS})"
                    ))
                }
            }
        }
        // `?profile=` wins over every other credential; `AWS_PROFILE` only names the profile
        // the chain reads after the environment's keys (as in the AWS SDKs).
        let profile = p.profile.clone();
        let region_profile = profile.clone().or_else(|| env("AWS_PROFILE"));
        let region = match p.region.clone().filter(|r| !r.is_empty()) {
            Some(r) => r,
            None => env("AWS_REGION")
                .or_else(|| env("AWS_DEFAULT_REGION"))
                .or_else(|| aws::profile_region(region_profile.as_deref(), env))
                .ok_or_else(|| {
                    format!(
                        "no region for bucket `{bucket}`: add ?region=, or set AWS_REGION or a \
                         region in the profile `{}`",
                        region_profile.as_deref().unwrap_or("default")
                    )
                })?,
        };
        if !region
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(format!("region `{region}` is not a region name"));
        }
        let scheme = if p.http { "http" } else { "https" };
        let endpoint = match p
            .endpoint
            .clone()
            .filter(|e| !e.is_empty())
            .or_else(|| env("AWS_ENDPOINT_URL_S3"))
            .or_else(|| env("AWS_ENDPOINT_URL"))
        {
            Some(e) if e.contains("://") => e,
            Some(e) => format!("{scheme}://{e}"),
            None => {
                let suffix = match region.starts_with("cn-") {
                    true => "amazonaws.com.cn",
                    false => "amazonaws.com",
                };
                let service = match (p.fips, p.dualstack) {
                    (true, true) => "s3-fips.dualstack",
                    (true, false) => "s3-fips",
                    (false, true) => "s3.dualstack",
                    (false, false) => "s3",
                };
                format!("{scheme}://{service}.{region}.{suffix}")
            }
        };
        let mut base =
            url::Url::parse(&endpoint).map_err(|e| format!("endpoint `{endpoint}`: {e}"))?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(format!(
                "endpoint `{endpoint}`: expected an http:// or https:// URL"
            ));
        }
        if base.query().is_some() || base.fragment().is_some() || !base.username().is_empty() {
            return Err(format!(
                "endpoint `{endpoint}`: no query, fragment or user info allowed"
            ));
        }
        let host_name = base.host_str().unwrap_or_default().to_owned();
        let no_bucket_host = matches!(base.host(), Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)))
            || host_name == "localhost";
        let path_style = p.path_style
            || no_bucket_host
            || !host_label(&bucket)
            || (bucket.contains('.') && base.scheme() == "https");
        let prefix = base.path().trim_end_matches('/').to_owned();
        let path = match path_style {
            true => format!(
                "{prefix}/{}/{}",
                super::encode(&bucket),
                super::encode(&key)
            ),
            false => {
                base.set_host(Some(&format!("{bucket}.{host_name}")))
                    .map_err(|e| format!("bucket `{bucket}` as a host name: {e}"))?;
                format!("{prefix}/{}", super::encode(&key))
            }
        };
        base.set_path(&path);
        let host = match base.port() {
            Some(port) => format!("{}:{port}", base.host_str().unwrap_or_default()),
            None => base.host_str().unwrap_or_default().to_owned(),
        };
        Ok(S3Object {
            bucket,
            key,
            region,
            url: base,
            host,
            profile,
            anonymous: p.anonymous,
        })
    }

    /// The object's URL (as requested).
    pub fn url(&self) -> &url::Url {
        &self.url
    }

    pub(super) async fn signed_get(&self, mut headers: HeaderMap) -> Result<SignedGet, String> {
        if !self.anonymous {
            let creds = aws::credentials(self.profile.as_deref(), &self.region)
                .await
                .map_err(|e| format!("AWS credentials: {e}"))?;
            for (name, value) in self.signature(&creds, SystemTime::now()) {
                let value =
                    HeaderValue::from_str(&value).map_err(|_| format!("bad `{name}` value"))?;
                headers.insert(name, value);
            }
        }
        Ok(SignedGet {
            url: self.url.clone(),
            headers,
        })
    }

    /// The headers that sign a GET of the object at `now` (AWS Signature Version 4, the payload
    /// hash sent and signed, as S3 requires).
    pub(crate) fn signature(
        &self,
        creds: &Credentials,
        now: SystemTime,
    ) -> Vec<(HeaderName, String)> {
        let t = Utc::of(now);
        let date = format!("{:04}{:02}{:02}", t.year, t.month, t.day);
        let stamp = format!("{date}T{:02}{:02}{:02}Z", t.hour, t.minute, t.second);
        let mut signed: Vec<(&str, &str)> = vec![
            ("host", &self.host),
            ("x-amz-content-sha256", EMPTY_SHA256),
            ("x-amz-date", &stamp),
        ];
        if let Some(token) = &creds.session_token {
            signed.push(("x-amz-security-token", token));
        }
        let names: Vec<&str> = signed.iter().map(|(n, _)| *n).collect();
        let names = names.join(";");
        let mut canonical = format!(
            "GET\n{}\n{}\n",
            self.url.path(),
            self.url.query().unwrap_or("")
        );
        for (name, value) in &signed {
            canonical.push_str(&format!("{name}:{}\n", value.trim()));
        }
        canonical.push_str(&format!("\n{names}\n{EMPTY_SHA256}"));
        let scope = format!("{date}/{}/s3/aws4_request", self.region);
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{}",
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let mut key = format!("AWS4{}", creds.secret_access_key).into_bytes();
        for part in [date.as_str(), &self.region, "s3", "aws4_request"] {
            key = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &key), part.as_bytes())
                .as_ref()
                .to_vec();
        }
        let signature = hex::encode(hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, &key),
            to_sign.as_bytes(),
        ));
        let mut out = vec![
            (
                http::header::AUTHORIZATION,
                format!(
                    "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={names}, Signature={signature}",
                    creds.access_key_id
                ),
            ),
            (
                HeaderName::from_static("x-amz-content-sha256"),
                EMPTY_SHA256.to_owned(),
            ),
            (HeaderName::from_static("x-amz-date"), stamp.clone()),
        ];
        if let Some(token) = &creds.session_token {
            out.push((
                HeaderName::from_static("x-amz-security-token"),
                token.clone(),
            ));
        }
        out
    }
}

#[derive(Default)]
struct Params {
    region: Option<String>,
    endpoint: Option<String>,
    profile: Option<String>,
    http: bool,
    path_style: bool,
    anonymous: bool,
    dualstack: bool,
    fips: bool,
}

/// Whether a bucket name can lead a host name (lower-case letters, digits, `-` and `.`; 3 to
/// 63 bytes; no empty label).
fn host_label(bucket: &str) -> bool {
    (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && bucket
            .split('.')
            .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'))
}

#[cfg(test)]
#[path = "s3_tests.rs"]
mod tests;
