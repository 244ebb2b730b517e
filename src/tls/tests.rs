//! Unit tests for `tls` (SPEC §2.4 `tls.*` keys).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use base64::Engine as _;

use super::*;

fn pem_pair() -> (String, String) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    (ck.cert.pem(), ck.signing_key.serialize_pem())
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn src(path: Option<&str>, base64: Option<&str>) -> TlsSource {
    TlsSource {
        path: path.map(str::to_owned),
        base64: base64.map(str::to_owned),
    }
}

fn tls(cert: TlsSource, key: TlsSource) -> Tls {
    Tls { cert, key }
}

#[test]
fn nothing_set_is_plain_http() {
    assert!(TlsSettings::from_config(&Tls::default(), "api")
        .unwrap()
        .is_none());
}

#[test]
fn partial_config_names_the_missing_key() {
    // SPEC §2.4: partially configured TLS is fatal at start-up.
    let cases = [
        (
            src(Some("/c.pem"), None),
            src(None, None),
            "serve.api.tls.key.path",
        ),
        (
            src(None, None),
            src(Some("/k.pem"), None),
            "serve.api.tls.cert.path",
        ),
        (
            src(None, Some("eA==")),
            src(None, None),
            "serve.api.tls.key.base64",
        ),
        (
            src(None, None),
            src(None, Some("eA==")),
            "serve.api.tls.cert.base64",
        ),
        // Mixed halves complete no pair.
        (
            src(None, Some("eA==")),
            src(Some("/k.pem"), None),
            "serve.api.tls.key.base64",
        ),
    ];
    for (cert, key, missing) in cases {
        let err = TlsSettings::from_config(&tls(cert, key), "api").unwrap_err();
        assert!(matches!(err, TlsError::Partial { .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.contains(&format!("{missing} is not set")), "{msg}");
    }
}

#[test]
fn path_pair_loads_and_offers_h2_and_http1() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = pem_pair();
    let (c, k) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    std::fs::write(&c, cert).unwrap();
    std::fs::write(&k, key).unwrap();
    let t = tls(src(c.to_str(), None), src(k.to_str(), None));
    let s = TlsSettings::from_config(&t, "proxy").unwrap().unwrap();
    assert_eq!(
        s.current().alpn_protocols,
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    );
    // The Debug output never shows key material.
    assert!(!format!("{s:?}").contains("PRIVATE"));
}

#[test]
fn base64_pair_wins_over_path_pair() {
    let (cert, key) = pem_pair();
    // The paths do not exist: loading them would fail.
    let t = tls(
        src(Some("/nonexistent/c.pem"), Some(&b64(&cert))),
        src(Some("/nonexistent/k.pem"), Some(&b64(&key))),
    );
    let s = TlsSettings::from_config(&t, "api").unwrap().unwrap();
    assert!(matches!(s.origin, Origin::Inline));
    assert!(!s.reload().unwrap(), "inline config has nothing to reload");
}

#[test]
fn path_pair_used_when_base64_pair_incomplete() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = pem_pair();
    let (c, k) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    std::fs::write(&c, &cert).unwrap();
    std::fs::write(&k, &key).unwrap();
    let t = tls(src(c.to_str(), Some(&b64(&cert))), src(k.to_str(), None));
    let s = TlsSettings::from_config(&t, "api").unwrap().unwrap();
    assert!(matches!(s.origin, Origin::Files { .. }));
}

#[test]
fn bad_inputs_are_clear_errors() {
    let (cert, key) = pem_pair();
    let (other_cert, _) = pem_pair();
    let cases: Vec<(Tls, &str)> = vec![
        (
            tls(src(None, Some("***")), src(None, Some(&b64(&key)))),
            "serve.api.tls.cert.base64: invalid base64",
        ),
        (
            tls(
                src(None, Some(&b64("not pem"))),
                src(None, Some(&b64(&key))),
            ),
            "serve.api.tls.cert: no PEM certificate found",
        ),
        (
            tls(src(None, Some(&b64(&cert))), src(None, Some(&b64(&cert)))),
            "serve.api.tls.key: no PEM private key found",
        ),
        (
            // A key that does not belong to the certificate.
            tls(
                src(None, Some(&b64(&other_cert))),
                src(None, Some(&b64(&key))),
            ),
            "serve.api.tls: invalid certificate or key",
        ),
        (
            tls(
                src(Some("/nonexistent/c.pem"), None),
                src(Some("/nonexistent/k.pem"), None),
            ),
            "serve.api.tls.cert.path: cannot read /nonexistent/c.pem",
        ),
    ];
    for (t, want) in cases {
        let err = TlsSettings::from_config(&t, "api").unwrap_err().to_string();
        assert!(err.starts_with(want), "got {err:?}, want {want:?}");
        assert!(!err.contains("PRIVATE KEY"), "{err}");
    }
}

#[test]
fn reload_swaps_good_certificates_and_keeps_old_on_error() {
    let dir = tempfile::tempdir().unwrap();
    let (c, k) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    let write = |(cert, key): (String, String)| {
        std::fs::write(&c, cert).unwrap();
        std::fs::write(&k, key).unwrap();
    };
    write(pem_pair());
    let t = tls(src(c.to_str(), None), src(k.to_str(), None));
    let s = TlsSettings::from_config(&t, "api").unwrap().unwrap();
    let first = s.current();

    write(pem_pair());
    assert!(s.reload().unwrap());
    let second = s.current();
    assert!(!Arc::ptr_eq(&first, &second));

    std::fs::write(&c, "garbage").unwrap();
    assert!(s.reload().is_err());
    assert!(
        Arc::ptr_eq(&second, &s.current()),
        "bad cert keeps the old one"
    );
}
