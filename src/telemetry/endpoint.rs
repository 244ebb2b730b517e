//! The metrics listener (`serve.prometheus`): `GET <metrics_path>` answers the exposition;
//! every other path is 404 (Oathkeeper answered metrics on every path, SPEC §6.3).

use std::net::SocketAddr;
use std::sync::Arc;

use http::{Method, Request, StatusCode};
use hyper::body::Incoming;

use crate::server::{self, BoxFuture, Handler};

#[derive(Debug, Clone)]
pub struct MetricsEndpoint {
    pub path: String,
}

impl Handler for MetricsEndpoint {
    fn call(self: Arc<Self>, req: Request<Incoming>, _peer: SocketAddr, _tls: bool) -> BoxFuture {
        Box::pin(async move {
            let path = if self.path.is_empty() {
                "/metrics"
            } else {
                self.path.as_str()
            };
            if req.uri().path() != path || !matches!(*req.method(), Method::GET | Method::HEAD) {
                return server::response(
                    StatusCode::NOT_FOUND,
                    "text/plain; charset=utf-8",
                    "404 page not found\n",
                );
            }
            server::response(
                StatusCode::OK,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                super::metrics::get().encode(),
            )
        })
    }
}
