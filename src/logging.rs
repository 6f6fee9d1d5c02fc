//! The binary's log setup (stderr, `text` or `json`) and the start-up checks it reports.

use std::io::IsTerminal as _;
use std::net::SocketAddr;

use crate::config::{Config, SETTINGS};

/// Whether text log lines get ANSI colours: only when the log goes to a terminal, never in
/// `json` (a redirected or piped log holds no escape codes).
pub fn ansi_colours(log_format: &str, writes_to_terminal: bool) -> bool {
    log_format != "json" && writes_to_terminal
}

/// Installs the global subscriber: the `log` filter (or `RUST_LOG`), lines on stderr.
pub fn init(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi_colours(
            &config.log_format,
            std::io::stderr().is_terminal(),
        ));
    if config.log_format == "json" {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init();
    } else {
        builder.init();
    }
}

fn default_of(key: &str) -> &'static str {
    SETTINGS
        .iter()
        .find(|s| s.key == key)
        .map_or("", |s| s.default)
}

/// The start-up warning when `public_origin` is left at its default while the server listens
/// on another port: passkeys (the WebAuthn origin) and mailed links would name a port nothing
/// answers on. Behind a proxy `public_origin` is set, so a set value is never questioned.
pub fn public_origin_warning(public_origin: &str, bound: SocketAddr) -> Option<String> {
    let default = default_of("public_origin");
    if public_origin != default {
        return None;
    }
    let default_port = default
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse::<u16>().ok());
    if default_port == Some(bound.port()) {
        return None;
    }
    Some(format!(
        "public_origin is the default {default} but the server listens on {bound}: set \
         public_origin (CHARTER_PUBLIC_ORIGIN or --set public_origin=...) to the origin clients \
         reach, since passkeys (the WebAuthn origin) and mailed links are built from it"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_only_in_text_on_a_terminal() {
        assert!(ansi_colours("text", true));
        assert!(!ansi_colours("text", false));
        assert!(!ansi_colours("json", true));
        assert!(!ansi_colours("json", false));
    }

    #[test]
    fn warns_only_for_the_default_origin_on_another_port() {
        let at = |a: &str| a.parse::<SocketAddr>().unwrap();
        assert_eq!(
            public_origin_warning("http://localhost:8080", at("127.0.0.1:8080")),
            None
        );
        assert_eq!(
            public_origin_warning("http://localhost:8080", at("0.0.0.0:8080")),
            None
        );
        assert_eq!(
            public_origin_warning("https://charter.example.com", at("127.0.0.1:9000")),
            None
        );
        let warning = public_origin_warning("http://localhost:8080", at("127.0.0.1:9000"))
            .expect("a warning");
        assert!(warning.contains("127.0.0.1:9000"), "{warning}");
        assert!(warning.contains("CHARTER_PUBLIC_ORIGIN"), "{warning}");
        assert!(warning.contains("passkeys"), "{warning}");
    }
}
