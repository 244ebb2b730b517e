//! `noop` mutator (SPEC §5.3): the session headers become the incoming request headers (first
//! value each), with headers set by earlier mutators re-applied on top. On `/decisions` this
//! echoes the request headers back to the gateway, as Oathkeeper does.

use http::HeaderMap;

use crate::pipeline::session::Session;
use crate::pipeline::RequestInfo;

pub(super) fn mutate(req: &RequestInfo, session: &mut Session) {
    let mut merged = HeaderMap::with_capacity(req.headers.keys_len());
    for name in req.headers.keys() {
        if let Some(v) = req.headers.get(name) {
            merged.insert(name.clone(), v.clone());
        }
    }
    for (name, v) in session.header.iter() {
        merged.insert(name.clone(), v.clone());
    }
    session.header = merged;
}
