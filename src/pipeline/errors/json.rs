//! `json` error handler (SPEC §4.9): the herodot error envelope, generic messages unless
//! `verbose: true`.

use crate::config::handlers::errors::JsonConfig;
use crate::pipeline::error::PipelineError;
use crate::pipeline::{Reply, RequestInfo};

#[derive(Debug)]
pub struct Json {
    verbose: bool,
}

impl Json {
    pub fn new(config: &JsonConfig) -> Self {
        Self {
            verbose: config.verbose,
        }
    }

    pub(super) fn render(&self, err: &PipelineError, req: &RequestInfo) -> Reply {
        super::json_reply(err, self.verbose, req.request_id())
    }
}
