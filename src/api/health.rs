//! `/health/alive` and `/health/ready` (SPEC §6.2).

use http::{Response, StatusCode};
use serde_json::json;

use crate::app::Snapshot;
use crate::server::{self, Body};

pub(super) fn alive() -> Response<Body> {
    server::json(StatusCode::OK, &json!({"status": "ok"}))
}

/// 200 once at least one valid rule is loaded, else 503 with the error envelope Oathkeeper's
/// tests assert on.
pub(super) fn ready(snapshot: &Snapshot) -> Response<Body> {
    if snapshot.ready() {
        return alive();
    }
    server::json_error(
        StatusCode::SERVICE_UNAVAILABLE,
        &json!({"error": {
            "code": 503,
            "status": "Service Unavailable",
            "reason": "no access rules are loaded",
            "message": "The requested resource could not be found",
        }}),
    )
}
