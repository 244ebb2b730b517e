//! `header` mutator (SPEC §5.3): each configured header is a template rendered against the
//! session and set (replacing) on the upstream request / decision response.

use http::{HeaderName, HeaderValue};

use crate::config::handlers::mutate::HeaderConfig;
use crate::pipeline::error::PipelineError;
use crate::pipeline::session::Session;
use crate::pipeline::template::Template;
use crate::pipeline::BuildError;

#[derive(Debug)]
pub struct HeaderMutator {
    headers: Vec<(HeaderName, Template)>,
}

impl HeaderMutator {
    /// Whether a header template may read the session's `MatchContext`.
    pub fn reads_match_context(&self) -> bool {
        self.headers.iter().any(|(_, t)| t.reads_match_context())
    }

    pub fn new(config: HeaderConfig) -> Result<Self, BuildError> {
        let mut headers = Vec::new();
        for (name, source) in config.headers.unwrap_or_default() {
            let path = format!("config.headers.{name}");
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| BuildError::new(&path, format!("invalid header name `{name}`")))?;
            let template = Template::parse(&source)
                .map_err(|e| BuildError::new(&path, format!("invalid template: {e}")))?;
            headers.push((header, template));
        }
        Ok(Self { headers })
    }

    pub fn names(&self) -> Vec<HeaderName> {
        self.headers.iter().map(|(n, _)| n.clone()).collect()
    }

    pub(super) fn mutate(&self, session: &mut Session) -> Result<(), PipelineError> {
        for (name, template) in &self.headers {
            let rendered = template.render(session).map_err(|e| {
                PipelineError::internal(crate::pipeline::error::msg::INTERNAL)
                    .with_reason(format!("header mutator: rendering `{name}`: {e}"))
            })?;
            // The rendered string becomes the value's buffer (no copy; the simple templates
            // render at exact capacity, so no allocation either).
            let value =
                HeaderValue::from_maybe_shared(bytes::Bytes::from(rendered)).map_err(|_| {
                    PipelineError::internal(crate::pipeline::error::msg::INTERNAL).with_reason(
                        format!("header mutator: `{name}` rendered to an invalid header value"),
                    )
                })?;
            session.header.insert(name.clone(), value);
        }
        Ok(())
    }
}
