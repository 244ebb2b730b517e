//! `noop`: always succeeds; the subject stays empty (SPEC §5.1).

use super::AuthnOutcome;

pub(super) fn authenticate() -> AuthnOutcome {
    AuthnOutcome::Authenticated
}
