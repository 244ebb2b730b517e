//! `deny`: every request is forbidden, 403 (SPEC §5.2).

use crate::pipeline::error::PipelineError;

pub(super) fn authorize() -> Result<(), PipelineError> {
    Err(PipelineError::forbidden())
}
