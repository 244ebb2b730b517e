//! `unauthorized`: always fails with 401 and stops the chain (SPEC §5.1).

use crate::pipeline::error::PipelineError;

use super::AuthnOutcome;

pub(super) fn authenticate() -> Result<AuthnOutcome, PipelineError> {
    Err(PipelineError::unauthorized())
}
