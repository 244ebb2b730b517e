//! A small public-suffix check for CORS wildcard origins (SPEC §2.4: `https://*.<domain>` is
//! honoured only when `<domain>` is registrable, i.e. has at least one label beyond its public
//! suffix).
//!
//! Limits, on purpose: the full Public Suffix List (~10,000 entries, updated weekly) is not
//! embedded. Every single label is a public suffix (the list's default `*` rule, so every TLD is
//! covered), plus the multi-label suffixes below: the common second-level registries of large
//! ccTLDs and the best-known shared hosting domains of the list's private section. The list's own
//! wildcard and exception rules (`*.ck`, `!www.ck`, ...) are not implemented. A suffix missing
//! here makes a pattern such as `https://*.city.kawasaki.jp` be honoured where Oathkeeper would
//! ignore it; it can never make a pattern for a registrable domain be ignored.

/// Multi-label public suffixes (lower-case).
#[rustfmt::skip]
const MULTI_LABEL: &[&str] = &[
    // United Kingdom
    "co.uk", "org.uk", "me.uk", "ltd.uk", "plc.uk", "net.uk", "ac.uk", "gov.uk", "sch.uk",
    "nhs.uk", "police.uk",
    // Australia, New Zealand
    "com.au", "net.au", "org.au", "edu.au", "gov.au", "asn.au", "id.au", "co.nz", "net.nz",
    "org.nz", "govt.nz", "ac.nz", "school.nz", "geek.nz",
    // Japan, Korea, China, Hong Kong, Taiwan, Singapore
    "co.jp", "ne.jp", "or.jp", "ac.jp", "go.jp", "gr.jp", "ed.jp", "lg.jp", "ad.jp", "co.kr",
    "or.kr", "ne.kr", "go.kr", "ac.kr", "re.kr", "com.cn", "net.cn", "org.cn", "gov.cn", "edu.cn",
    "ac.cn", "com.hk", "org.hk", "net.hk", "edu.hk", "gov.hk", "com.tw", "org.tw", "net.tw",
    "edu.tw", "gov.tw", "com.sg", "org.sg", "net.sg", "edu.sg", "gov.sg",
    // India, Indonesia, Malaysia, Philippines, Pakistan, Israel, Turkey
    "co.in", "net.in", "org.in", "firm.in", "gen.in", "ind.in", "ac.in", "edu.in", "gov.in",
    "co.id", "or.id", "ac.id", "go.id", "web.id", "com.my", "org.my", "net.my", "edu.my",
    "gov.my", "com.ph", "com.pk", "co.il", "org.il", "ac.il", "gov.il", "net.il", "com.tr",
    "org.tr", "net.tr", "gov.tr", "edu.tr",
    // Americas, Africa, Europe
    "com.br", "net.br", "org.br", "gov.br", "edu.br", "com.mx", "org.mx", "gob.mx", "net.mx",
    "edu.mx", "com.ar", "gob.ar", "com.co", "com.pe", "com.uy", "com.ve", "co.za", "org.za",
    "net.za", "gov.za", "ac.za", "web.za", "com.ng", "co.ke", "com.eg", "com.ua", "co.at",
    "or.at", "com.pl", "com.gr", "com.cy",
    // Shared hosting (the list's private section)
    "github.io", "gitlab.io", "herokuapp.com", "netlify.app", "vercel.app", "pages.dev",
    "workers.dev", "web.app", "firebaseapp.com", "appspot.com", "blogspot.com",
    "azurewebsites.net", "cloudfront.net", "onrender.com", "fly.dev", "s3.amazonaws.com",
];

/// True when `host` has at least one label in front of its public suffix.
pub fn is_registrable(host: &str) -> bool {
    let host = host.trim_end_matches('.');
    let labels: Vec<&str> = host.split('.').collect();
    if labels.len() < 2 || labels.iter().any(|l| !valid_label(l)) {
        return false;
    }
    let suffix_len = (2..=3)
        .filter(|n| *n <= labels.len())
        .filter(|n| MULTI_LABEL.contains(&labels[labels.len() - n..].join(".").as_str()))
        .max()
        .unwrap_or(1);
    labels.len() > suffix_len
}

fn valid_label(l: &str) -> bool {
    !l.is_empty()
        && l.len() <= 63
        && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !l.starts_with('-')
        && !l.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::is_registrable;

    #[test]
    fn registrable_domains() {
        for h in [
            "example.com",
            "a.example.com",
            "example.co.uk",
            "ory.sh",
            "me.github.io",
            "bucket.s3.amazonaws.com",
            "xn--bcher-kva.de",
        ] {
            assert!(is_registrable(h), "{h}");
        }
    }

    #[test]
    fn public_suffixes_and_junk() {
        for h in [
            "com",
            "co.uk",
            "github.io",
            "s3.amazonaws.com",
            "",
            ".com",
            "foo..com",
            "-a.com",
            "a_b.com",
            "*.com",
        ] {
            assert!(!is_registrable(h), "{h:?}");
        }
    }
}
