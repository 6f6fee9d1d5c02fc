//! `/docs`, `/docs/errors` and `/docs/assets/…`: the pages for people and their embedded files.
//! (The browser check, scripts/browser-check, proves in Chromium that nothing else is loaded.)

use charter::error::ErrorCode;

use crate::support::TestApp;

/// The text as the templates write it (askama's HTML escaping).
fn escaped(text: &str) -> String {
    text.replace('&', "&#38;")
        .replace('<', "&#60;")
        .replace('>', "&#62;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

/// The `src` of each `<script>` of a page; a script without one fails the test.
fn script_sources(html: &str) -> Vec<String> {
    html.split("<script")
        .skip(1)
        .map(|tag| {
            let tag = &tag[..tag.find('>').expect("a closed tag")];
            let src = tag
                .split("src=\"")
                .nth(1)
                .unwrap_or_else(|| panic!("an inline script: <script{tag}>"));
            src[..src.find('"').unwrap()].to_string()
        })
        .collect()
}

fn directives(policy: &str) -> Vec<(String, Vec<String>)> {
    policy
        .split(';')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| {
            let mut words = d.split_whitespace().map(str::to_string);
            (words.next().unwrap(), words.collect())
        })
        .collect()
}

#[tokio::test]
async fn the_reference_page_loads_only_from_this_server() {
    let app = TestApp::spawn().await;
    let page = app.get("/docs").await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(page.header("cache-control"), Some("no-cache"));

    let policy = page.header("content-security-policy").expect("a CSP");
    let directives = directives(policy);
    let sources = |name: &str| {
        directives
            .iter()
            .find(|(d, _)| d == name)
            .map(|(_, s)| s.clone())
            .unwrap_or_else(|| panic!("{name} in {policy}"))
    };
    assert_eq!(sources("default-src"), ["'none'"]);
    assert_eq!(sources("script-src"), ["'self'"]);
    assert_eq!(sources("connect-src"), ["'self'"]);
    assert_eq!(sources("frame-ancestors"), ["'none'"]);
    // No other host anywhere: every source is a keyword, or data: for images.
    for (directive, sources) in &directives {
        for source in sources {
            assert!(
                source.starts_with('\'') || (directive == "img-src" && source == "data:"),
                "{directive} {source} in {policy}"
            );
        }
    }
    assert!(!policy.contains("unsafe-eval"), "{policy}");

    // The bundle and the start script, both from /docs/assets, named by their content.
    let scripts = script_sources(&page.text);
    assert_eq!(scripts.len(), 2, "{}", page.text);
    assert!(scripts[0].starts_with("/docs/assets/scalar.") && scripts[0].ends_with(".js"));
    assert!(scripts[1].starts_with("/docs/assets/docs.") && scripts[1].ends_with(".js"));
    assert!(page.text.contains("data-openapi-url=\"/openapi.json\""));
    assert!(
        !page.text.contains("http://") && !page.text.contains("https://"),
        "{}",
        page.text
    );

    // The start script turns off everything of Scalar's that calls out.
    let start = app.get(&scripts[1]).await;
    for setting in [
        "withDefaultFonts: false",
        "telemetry: false",
        "showDeveloperTools: 'never'",
        "agent: { disabled: true }",
        "mcp: { disabled: true }",
    ] {
        assert!(start.text.contains(setting), "{setting}");
    }
    assert!(
        !start.text.contains("proxyUrl"),
        "requests go straight to this server"
    );
}

#[tokio::test]
async fn assets_are_served_with_their_type_a_year_of_cache_and_gzip_when_accepted() {
    let app = TestApp::spawn().await;
    let page = app.get("/docs").await;
    let scripts = script_sources(&page.text);
    let bundle = include_bytes!("../../assets/vendor/scalar/standalone.js");
    let gzipped = include_bytes!("../../assets/vendor/scalar/standalone.js.gz");

    let plain = app
        .client
        .get(format!("{}{}", app.base, scripts[0]))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 200);
    let header = |r: &reqwest::Response, name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    assert_eq!(
        header(&plain, "content-type").as_deref(),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(
        header(&plain, "cache-control").as_deref(),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(header(&plain, "vary").as_deref(), Some("accept-encoding"));
    assert_eq!(header(&plain, "content-encoding"), None);
    assert_eq!(
        header(&plain, "x-content-type-options").as_deref(),
        Some("nosniff")
    );
    assert_eq!(plain.bytes().await.unwrap().as_ref(), bundle.as_slice());

    let compressed = app
        .client
        .get(format!("{}{}", app.base, scripts[0]))
        .header("accept-encoding", "gzip, deflate, br")
        .send()
        .await
        .unwrap();
    assert_eq!(compressed.status(), 200);
    assert_eq!(
        header(&compressed, "content-encoding").as_deref(),
        Some("gzip")
    );
    assert_eq!(
        header(&compressed, "content-type").as_deref(),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(
        compressed.bytes().await.unwrap().as_ref(),
        gzipped.as_slice()
    );

    // gzip refused: the plain file.
    let refused = app
        .client
        .get(format!("{}{}", app.base, scripts[0]))
        .header("accept-encoding", "gzip;q=0, br")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&refused, "content-encoding"), None);

    // The stylesheet of the catalogue page.
    let catalogue = app.get("/docs/errors").await;
    let href = catalogue
        .text
        .split("<link rel=\"stylesheet\" href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a stylesheet")
        .to_string();
    assert!(href.starts_with("/docs/assets/docs.") && href.ends_with(".css"));
    let css = app.get(&href).await;
    assert_eq!(css.status, 200);
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    assert_eq!(
        css.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(css.header("vary"), None, "no gzipped copy to vary on");

    // A name that is not one of this build's files: an old hash, no hash, a path.
    for name in [
        "scalar.0000000000000000.js",
        "scalar.js",
        "standalone.js",
        "..%2FCargo.toml",
    ] {
        app.get(&format!("/docs/assets/{name}"))
            .await
            .assert_problem(404003);
    }
}

#[tokio::test]
async fn the_error_catalogue_page_lists_every_code_with_its_anchor() {
    let app = TestApp::spawn().await;
    let page = app.get("/docs/errors").await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let policy = page.header("content-security-policy").expect("a CSP");
    assert!(
        policy.starts_with("default-src 'none'; style-src 'self';"),
        "{policy}"
    );
    assert!(
        !policy.contains("script-src"),
        "the page runs no script: {policy}"
    );
    assert!(!page.text.contains("<script"), "{}", page.text);

    let html = &page.text;
    assert_eq!(html.matches("<tr id=\"").count(), ErrorCode::ALL.len());
    for code in ErrorCode::ALL {
        let c = code.code();
        let row_start = html
            .find(&format!("<tr id=\"{c}\">"))
            .unwrap_or_else(|| panic!("a row with the anchor {c}"));
        let row = &html[row_start..row_start + html[row_start..].find("</tr>").unwrap()];
        assert!(row.contains(&format!("<a href=\"#{c}\">{c}</a>")), "{row}");
        assert!(row.contains(&format!(">{} ", code.status())), "{row}");
        assert!(
            row.contains(&format!("<code>{}</code>", code.name())),
            "{row}"
        );
        assert!(row.contains(&escaped(code.description())), "{row}");
    }
    // Reason phrases are the HTTP ones.
    assert!(html.contains("451 Unavailable For Legal Reasons"));
    assert!(html.contains("409 Conflict"));
}
