//! The API port (SPEC §6.2): `/decisions`, `/rules`, `/rules/{id}`, `/health/alive`,
//! `/health/ready`, `/version`, `/.well-known/jwks.json`.

mod health;
mod jwks;
mod rules;

use std::net::SocketAddr;
use std::sync::Arc;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::json;

use crate::app::State;
use crate::server::{self, Body, BoxFuture, Handler};
use crate::telemetry::access::{Observation, Outcome};

/// The API listener's request handler.
#[derive(Debug, Clone)]
pub struct Api {
    pub state: Arc<State>,
}

impl Handler for Api {
    fn call(self: Arc<Self>, mut req: Request<Incoming>, peer: SocketAddr, tls: bool) -> BoxFuture {
        let observation = Observation::begin("gatehouse-api", &mut req);
        // CORS first: preflights are answered here and never reach rules (SPEC §2.4).
        let snapshot = self.state.current();
        if let Some(preflight) = snapshot.cors_api.preflight(req.method(), req.headers()) {
            return server::ready(observation.finish(preflight, &Outcome::default()));
        }
        let cors = snapshot.cors_api.actual(req.method(), req.headers());
        let path = req.uri().path();
        if path == "/decisions" || path.starts_with("/decisions/") {
            return crate::decisions::decide(snapshot, req, peer, tls, observation, cors);
        }
        drop(snapshot);
        Box::pin(async move {
            let mut resp = self.dispatch(&req).await;
            cors.apply(resp.headers_mut());
            observation.finish(resp, &Outcome::default())
        })
    }
}

impl Api {
    /// Every route but `/decisions`.
    async fn dispatch(&self, req: &Request<Incoming>) -> Response<Body> {
        let path = req.uri().path();
        let get = matches!(*req.method(), Method::GET | Method::HEAD);
        let mut resp = match (get, path) {
            (true, "/health/alive") => health::alive(),
            (true, "/health/ready") => health::ready(&self.state.snapshot()),
            (true, "/version") => {
                server::json(StatusCode::OK, &json!({ "version": crate::VERSION }))
            }
            (true, "/rules") => rules::list(&self.state.snapshot(), req.uri().query()),
            (true, "/.well-known/jwks.json") => jwks::well_known(&self.state.snapshot()).await,
            (true, p) if p.starts_with("/rules/") && p.len() > "/rules/".len() => {
                rules::get(&self.state.snapshot(), &p["/rules/".len()..])
            }
            _ => not_found(req),
        };
        if req.method() == Method::HEAD {
            *resp.body_mut() = server::empty();
        }
        resp
    }
}

/// Unknown route: 404 negotiated between JSON, plain text and HTML (SPEC §6.2).
fn not_found<B>(req: &Request<B>) -> Response<Body> {
    const REASON: &str =
        "The requested route does not exist. Make sure you are using the right path, domain, and port.";
    let accept = req
        .headers()
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if accept.contains("json") {
        let body = json!({"error": {"code": 404, "message": "Not Found", "reason": REASON}});
        server::json_error(StatusCode::NOT_FOUND, &body)
    } else if accept.contains("text/plain") {
        server::response(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            format!("404 Not Found: {REASON}\n"),
        )
    } else {
        server::response(
            StatusCode::NOT_FOUND,
            "text/html; charset=utf-8",
            format!("<html><head><title>Not Found</title></head><body><h1>404 Not Found</h1><p>{REASON}</p></body></html>\n"),
        )
    }
}
