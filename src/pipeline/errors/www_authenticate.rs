//! `www_authenticate` error handler (SPEC §4.9): always 401 with
//! `WWW-Authenticate: Basic realm=<realm>` and a plain-text body.

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, StatusCode};

use crate::config::handlers::errors::WwwAuthenticateConfig;
use crate::pipeline::Reply;

#[derive(Debug)]
pub struct WwwAuthenticate {
    challenge: HeaderValue,
}

impl WwwAuthenticate {
    pub fn new(config: &WwwAuthenticateConfig) -> Self {
        let realm = &config.realm;
        let challenge = HeaderValue::from_str(&format!("Basic realm={realm}"))
            .unwrap_or_else(|_| HeaderValue::from_static("Basic realm=Please authenticate."));
        Self { challenge }
    }

    pub(super) fn render(&self) -> Reply {
        let mut headers = HeaderMap::new();
        headers.insert(header::WWW_AUTHENTICATE, self.challenge.clone());
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        Reply {
            status: StatusCode::UNAUTHORIZED,
            headers,
            body: Bytes::from_static(b"Unauthorized\n"),
        }
    }
}
