//! The files the `/docs` pages load, embedded in the binary and served under
//! `/docs/assets/<stem>.<hash>.<ext>`: the name changes with the content, so a browser may keep
//! each one for a year and a new build is never served from an old cache.

use std::sync::LazyLock;

use axum::http::HeaderMap;
use axum::http::header;

use crate::crypto::sha256_hex;

/// One embedded file.
pub(crate) struct Asset {
    /// The name in the URL.
    pub name: String,
    pub content_type: &'static str,
    pub body: &'static [u8],
    /// The same bytes gzipped at vendoring time (`gzip -9 -n`), for clients that accept it.
    pub gzip: Option<&'static [u8]>,
}

/// Which file a page asks for.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Scalar's standalone bundle (assets/vendor/scalar; scripts/update-docs-renderer).
    Renderer,
    /// Our start script for it (assets/docs/docs.js).
    Start,
    /// The stylesheet of the server-rendered pages (assets/docs/docs.css).
    Stylesheet,
}

macro_rules! file {
    ($path:literal) => {
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $path))
    };
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

static ASSETS: LazyLock<[(Kind, Asset); 3]> = LazyLock::new(|| {
    [
        (
            Kind::Renderer,
            asset(
                "scalar",
                "js",
                JS,
                file!("assets/vendor/scalar/standalone.js"),
                Some(file!("assets/vendor/scalar/standalone.js.gz")),
            ),
        ),
        (
            Kind::Start,
            asset("docs", "js", JS, file!("assets/docs/docs.js"), None),
        ),
        (
            Kind::Stylesheet,
            asset("docs", "css", CSS, file!("assets/docs/docs.css"), None),
        ),
    ]
});

fn asset(
    stem: &str,
    ext: &str,
    content_type: &'static str,
    body: &'static [u8],
    gzip: Option<&'static [u8]>,
) -> Asset {
    let hash = sha256_hex(body);
    Asset {
        name: format!("{stem}.{}.{ext}", &hash[..16]),
        content_type,
        body,
        gzip,
    }
}

/// The URL a page links.
pub(crate) fn url(kind: Kind) -> String {
    let asset = ASSETS
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, a)| a)
        .expect("every kind has its asset");
    format!("/docs/assets/{}", asset.name)
}

pub(crate) fn find(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().map(|(_, a)| a).find(|a| a.name == name)
}

/// Whether the request's `Accept-Encoding` names gzip with a non-zero weight.
pub(crate) fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or_default().trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            coding.eq_ignore_ascii_case("gzip") && !refused
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vendored bundle is byte for byte what scripts/update-docs-renderer recorded.
    #[test]
    fn the_vendored_renderer_matches_its_checksums() {
        let sums = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/assets/vendor/scalar/SHA256SUMS"
        ));
        let sum = |file: &str| {
            sums.lines()
                .find_map(|l| Some(l.strip_suffix(file)?.trim()))
                .unwrap_or_else(|| panic!("{file} in SHA256SUMS"))
                .to_string()
        };
        assert_eq!(
            sha256_hex(file!("assets/vendor/scalar/standalone.js")),
            sum("standalone.js")
        );
        assert_eq!(
            sha256_hex(file!("assets/vendor/scalar/standalone.js.gz")),
            sum("standalone.js.gz")
        );
    }

    #[test]
    fn names_carry_the_content_hash_and_are_found() {
        for kind in [Kind::Renderer, Kind::Start, Kind::Stylesheet] {
            let url = url(kind);
            let name = url.strip_prefix("/docs/assets/").unwrap();
            let asset = find(name).unwrap();
            assert!(name.contains(&sha256_hex(asset.body)[..16]), "{name}");
        }
        assert!(find("scalar.js").is_none());
    }

    #[test]
    fn gzip_is_taken_only_when_offered() {
        let accepts = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT_ENCODING, value.parse().unwrap());
            accepts_gzip(&headers)
        };
        assert!(accepts("gzip"));
        assert!(accepts("gzip, deflate, br, zstd"));
        assert!(accepts("br;q=1.0, GZIP;q=0.5"));
        assert!(!accepts("br, deflate"));
        assert!(!accepts("gzip;q=0"));
        assert!(!accepts("identity"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }
}
