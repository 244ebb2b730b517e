//! `allow`: every authenticated request may proceed (SPEC §5.2).

use crate::pipeline::error::PipelineError;

pub(super) fn authorize() -> Result<(), PipelineError> {
    Ok(())
}
