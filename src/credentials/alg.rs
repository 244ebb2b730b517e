//! The JWS algorithms gatehouse verifies (jwt authenticator) and signs with (id_token):
//! jsonwebtoken's set plus `ES512` (ECDSA on P-521 with SHA-512), which neither it nor `ring`
//! has and which Oathkeeper accepts.

/// A JWS `alg` (RFC 7518 §3.1 names; `none` is never one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    HS256,
    HS384,
    HS512,
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    ES512,
    EdDSA,
}

impl Alg {
    pub const ALL: [Alg; 13] = [
        Alg::RS256,
        Alg::RS384,
        Alg::RS512,
        Alg::PS256,
        Alg::PS384,
        Alg::PS512,
        Alg::ES256,
        Alg::ES384,
        Alg::ES512,
        Alg::EdDSA,
        Alg::HS256,
        Alg::HS384,
        Alg::HS512,
    ];

    /// The algorithm named exactly `name` (case matters, as in JOSE headers).
    pub fn parse(name: &str) -> Option<Alg> {
        Alg::ALL.into_iter().find(|a| a.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Alg::HS256 => "HS256",
            Alg::HS384 => "HS384",
            Alg::HS512 => "HS512",
            Alg::RS256 => "RS256",
            Alg::RS384 => "RS384",
            Alg::RS512 => "RS512",
            Alg::PS256 => "PS256",
            Alg::PS384 => "PS384",
            Alg::PS512 => "PS512",
            Alg::ES256 => "ES256",
            Alg::ES384 => "ES384",
            Alg::ES512 => "ES512",
            Alg::EdDSA => "EdDSA",
        }
    }

    /// The names, comma-separated (for error messages).
    pub fn names() -> String {
        Alg::ALL.map(Alg::name).join(", ")
    }

    /// jsonwebtoken's algorithm, for the HMAC family (signed and verified through it).
    pub fn hmac(self) -> Option<jsonwebtoken::Algorithm> {
        match self {
            Alg::HS256 => Some(jsonwebtoken::Algorithm::HS256),
            Alg::HS384 => Some(jsonwebtoken::Algorithm::HS384),
            Alg::HS512 => Some(jsonwebtoken::Algorithm::HS512),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in Alg::ALL {
            assert_eq!(Alg::parse(a.name()), Some(a));
        }
        assert_eq!(Alg::parse("es512"), None);
        assert_eq!(Alg::parse("none"), None);
        assert_eq!(Alg::HS384.hmac(), Some(jsonwebtoken::Algorithm::HS384));
        assert_eq!(Alg::ES512.hmac(), None);
    }
}
