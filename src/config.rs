//! Layered, typed configuration: defaults < TOML file < `CHARTER_*` environment < flags.
//!
//! Every setting has one key; the file uses the key, the environment `CHARTER_<KEY>` (upper
//! case), and `--set key=value` on the command line. `DATABASE_URL` is also read unprefixed.

use std::collections::BTreeMap;
use std::fmt;

#[derive(Clone)]
pub struct Config {
    pub bind: String,
    pub database_url: String,
    pub public_origin: String,
    pub rp_id: String,
    pub mail: String,
    pub mail_from: String,
    pub dev: bool,
    pub tax_rates: String,
    pub cors_origins: String,
    pub log_format: String,
    pub log: String,
    pub db_max_connections: u32,
    pub request_timeout_secs: u64,
    pub auth_cache_ttl_ms: u64,
    pub body_limit_bytes: usize,
    pub job_interval_secs: u64,
    pub idempotency_ttl_secs: i64,
    pub session_absolute_secs: i64,
    pub session_idle_secs: i64,
    pub code_ttl_secs: i64,
    pub elevation_window_secs: i64,
    pub invitation_ttl_secs: i64,
    pub price_calculation_ttl_secs: i64,
    pub csv_max_days: i64,
    pub secret_key: String,
    pub secret_key_file: String,
    pub max_connections: usize,
    pub header_read_timeout_secs: u64,
    pub auth_starts_per_minute: u32,
    pub trusted_proxies: String,
    pub recovery_hold_secs: i64,
    pub audit_retention_days: i64,
}

/// One documented setting: key, default, description. The README table is this list.
pub struct Setting {
    pub key: &'static str,
    pub default: &'static str,
    pub description: &'static str,
}

pub const SETTINGS: &[Setting] = &[
    Setting {
        key: "bind",
        default: "127.0.0.1:8080",
        description: "Address the HTTP server listens on.",
    },
    Setting {
        key: "database_url",
        default: "sqlite://./data/charter.db",
        description: "`sqlite://path` or `postgres://…` (also read from `DATABASE_URL`).",
    },
    Setting {
        key: "public_origin",
        default: "http://localhost:8080",
        description: "WebAuthn origin: exactly the page origin passkeys are used from.",
    },
    Setting {
        key: "rp_id",
        default: "localhost",
        description: "WebAuthn relying-party id.",
    },
    Setting {
        key: "mail",
        default: "file:./data/outbox.jsonl",
        description: "Mail transport: `file:PATH` or `smtp://user:pass@host:port`.",
    },
    Setting {
        key: "mail_from",
        default: "Charter <no-reply@localhost>",
        description: "Sender of SMTP mail.",
    },
    Setting {
        key: "dev",
        default: "false",
        description: "Enables the test clock (`/v1/dev/clock`). Also `--dev`.",
    },
    Setting {
        key: "tax_rates",
        default: "",
        description: "Per-country tax rates in percent, e.g. `DE=19,FR=20`; others pay 0 %.",
    },
    Setting {
        key: "cors_origins",
        default: "",
        description: "Comma-separated origins allowed by CORS (empty: no CORS headers).",
    },
    Setting {
        key: "log_format",
        default: "text",
        description: "`text` or `json` (structured logs).",
    },
    Setting {
        key: "log",
        default: "info",
        description: "Log filter (tracing `EnvFilter` syntax).",
    },
    Setting {
        key: "db_max_connections",
        default: "8",
        description: "Database pool size.",
    },
    Setting {
        key: "request_timeout_secs",
        default: "30",
        description: "A request running longer answers 500001.",
    },
    Setting {
        key: "auth_cache_ttl_ms",
        default: "1000",
        description: "How long a process may reuse what it read about a token or user while it writes nothing; bounds how late it sees another process's change (0: never cache).",
    },
    Setting {
        key: "body_limit_bytes",
        default: "1048576",
        description: "Largest accepted request body; larger answers 400001.",
    },
    Setting {
        key: "job_interval_secs",
        default: "30",
        description: "How often background jobs look for due work.",
    },
    Setting {
        key: "idempotency_ttl_secs",
        default: "86400",
        description: "How long an `Idempotency-Key` replays its first response.",
    },
    Setting {
        key: "session_absolute_secs",
        default: "2592000",
        description: "Session lifetime (30 days).",
    },
    Setting {
        key: "session_idle_secs",
        default: "604800",
        description: "Session idle lifetime (7 days).",
    },
    Setting {
        key: "code_ttl_secs",
        default: "600",
        description: "E-mail codes and WebAuthn challenges (10 minutes).",
    },
    Setting {
        key: "elevation_window_secs",
        default: "600",
        description: "How long an interactive authentication counts as elevated.",
    },
    Setting {
        key: "invitation_ttl_secs",
        default: "604800",
        description: "Invitation lifetime (7 days).",
    },
    Setting {
        key: "price_calculation_ttl_secs",
        default: "1800",
        description: "Price calculation validity (30 minutes).",
    },
    Setting {
        key: "csv_max_days",
        default: "366",
        description: "Longest CSV export range in days.",
    },
    Setting {
        key: "secret_key",
        default: "",
        description: "The server key (64 hex digits) that keys code and idempotency hashes and encrypts queued mail; empty: read or create `secret_key_file`. Every process of one database needs the same key.",
    },
    Setting {
        key: "secret_key_file",
        default: "./data/secret.key",
        description: "Where the server key is kept when `secret_key` is empty (created on first start, mode 0600).",
    },
    Setting {
        key: "max_connections",
        default: "10000",
        description: "Connections served at once; further ones wait unaccepted.",
    },
    Setting {
        key: "header_read_timeout_secs",
        default: "10",
        description: "A connection that has not sent its request headers within this time is closed.",
    },
    Setting {
        key: "auth_starts_per_minute",
        default: "30",
        description: "Unauthenticated sign-in and reset starts per source address (IPv6 per /64) a minute; 0 turns the limit off.",
    },
    Setting {
        key: "trusted_proxies",
        default: "127.0.0.0/8,::1/128",
        description: "Comma-separated addresses or CIDR ranges whose `X-Forwarded-For` is believed (the right-most address outside them is the source).",
    },
    Setting {
        key: "recovery_hold_secs",
        default: "86400",
        description: "After a passkey reset, how long organizations that require passkeys answer the user 403005.",
    },
    Setting {
        key: "audit_retention_days",
        default: "400",
        description: "How long audit events are kept.",
    },
];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown setting `{0}`")]
    Unknown(String),
    #[error("setting `{key}`: cannot use `{value}`: {reason}")]
    Invalid {
        key: String,
        value: String,
        reason: String,
    },
    #[error("config file {path}: {reason}")]
    File { path: String, reason: String },
}

impl Default for Config {
    fn default() -> Self {
        let mut config = Config {
            bind: String::new(),
            database_url: String::new(),
            public_origin: String::new(),
            rp_id: String::new(),
            mail: String::new(),
            mail_from: String::new(),
            dev: false,
            tax_rates: String::new(),
            cors_origins: String::new(),
            log_format: String::new(),
            log: String::new(),
            db_max_connections: 0,
            request_timeout_secs: 0,
            auth_cache_ttl_ms: 0,
            body_limit_bytes: 0,
            job_interval_secs: 0,
            idempotency_ttl_secs: 0,
            session_absolute_secs: 0,
            session_idle_secs: 0,
            code_ttl_secs: 0,
            elevation_window_secs: 0,
            invitation_ttl_secs: 0,
            price_calculation_ttl_secs: 0,
            csv_max_days: 0,
            secret_key: String::new(),
            secret_key_file: String::new(),
            max_connections: 0,
            header_read_timeout_secs: 0,
            auth_starts_per_minute: 0,
            trusted_proxies: String::new(),
            recovery_hold_secs: 0,
            audit_retention_days: 0,
        };
        for s in SETTINGS {
            config.set(s.key, s.default).expect("defaults are valid");
        }
        config
    }
}

fn parse<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, ConfigError>
where
    T::Err: fmt::Display,
{
    value.trim().parse::<T>().map_err(|e| ConfigError::Invalid {
        key: key.into(),
        value: value.into(),
        reason: e.to_string(),
    })
}

fn at_least(key: &str, value: &str, min: i64) -> Result<i64, ConfigError> {
    let n: i64 = parse(key, value)?;
    if n < min {
        return Err(ConfigError::Invalid {
            key: key.into(),
            value: value.into(),
            reason: format!("must be at least {min}"),
        });
    }
    Ok(n)
}

fn parse_bool(key: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        _ => Err(ConfigError::Invalid {
            key: key.into(),
            value: value.into(),
            reason: "expected true or false".into(),
        }),
    }
}

impl Config {
    /// Sets one setting from its text form.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let v = value.to_string();
        match key {
            "bind" => self.bind = v,
            "database_url" => self.database_url = v,
            "public_origin" => self.public_origin = v.trim_end_matches('/').to_string(),
            "rp_id" => self.rp_id = v,
            "mail" => self.mail = v,
            "mail_from" => self.mail_from = v,
            "dev" => self.dev = parse_bool(key, value)?,
            "tax_rates" => self.tax_rates = v,
            "cors_origins" => self.cors_origins = v,
            "log_format" => {
                if !matches!(value, "text" | "json") {
                    return Err(ConfigError::Invalid {
                        key: key.into(),
                        value: v,
                        reason: "expected text or json".into(),
                    });
                }
                self.log_format = v
            }
            "log" => self.log = v,
            "db_max_connections" => self.db_max_connections = parse(key, value)?,
            "request_timeout_secs" => self.request_timeout_secs = parse(key, value)?,
            "auth_cache_ttl_ms" => self.auth_cache_ttl_ms = parse(key, value)?,
            "body_limit_bytes" => self.body_limit_bytes = parse(key, value)?,
            "job_interval_secs" => self.job_interval_secs = parse(key, value)?,
            "idempotency_ttl_secs" => self.idempotency_ttl_secs = parse(key, value)?,
            "session_absolute_secs" => self.session_absolute_secs = parse(key, value)?,
            "session_idle_secs" => self.session_idle_secs = parse(key, value)?,
            "code_ttl_secs" => self.code_ttl_secs = parse(key, value)?,
            "elevation_window_secs" => self.elevation_window_secs = parse(key, value)?,
            "invitation_ttl_secs" => self.invitation_ttl_secs = parse(key, value)?,
            "price_calculation_ttl_secs" => self.price_calculation_ttl_secs = parse(key, value)?,
            "csv_max_days" => self.csv_max_days = parse(key, value)?,
            "secret_key" => self.secret_key = v,
            "secret_key_file" => self.secret_key_file = v,
            "max_connections" => self.max_connections = parse(key, value)?,
            "header_read_timeout_secs" => self.header_read_timeout_secs = parse(key, value)?,
            "auth_starts_per_minute" => self.auth_starts_per_minute = parse(key, value)?,
            "trusted_proxies" => {
                crate::net::ProxyList::parse(value).map_err(|reason| ConfigError::Invalid {
                    key: key.into(),
                    value: v.clone(),
                    reason,
                })?;
                self.trusted_proxies = v
            }
            "recovery_hold_secs" => self.recovery_hold_secs = at_least(key, value, 0)?,
            "audit_retention_days" => self.audit_retention_days = at_least(key, value, 1)?,
            _ => return Err(ConfigError::Unknown(key.into())),
        }
        Ok(())
    }

    /// Applies a TOML file whose top-level keys are setting keys.
    pub fn apply_file(&mut self, path: &str) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
            path: path.into(),
            reason: e.to_string(),
        })?;
        let table: BTreeMap<String, toml::Value> =
            toml::from_str(&text).map_err(|e| ConfigError::File {
                path: path.into(),
                reason: e.to_string(),
            })?;
        for (key, value) in table {
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                toml::Value::Float(f) => f.to_string(),
                _ => {
                    return Err(ConfigError::Invalid {
                        key,
                        value: "(table or array)".into(),
                        reason: "expected a string, number or boolean".into(),
                    });
                }
            };
            self.set(&key, &text)?;
        }
        Ok(())
    }

    /// Applies `CHARTER_<KEY>` variables (and `DATABASE_URL`) from `env`.
    pub fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(url) = env("DATABASE_URL") {
            self.set("database_url", &url)?;
        }
        for s in SETTINGS {
            if let Some(value) = env(&format!("CHARTER_{}", s.key.to_ascii_uppercase())) {
                self.set(s.key, &value)?;
            }
        }
        Ok(())
    }

    /// Builds the configuration from every layer.
    pub fn load(file: Option<&str>, overrides: &[(String, String)]) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        let file = file
            .map(str::to_string)
            .or_else(|| std::env::var("CHARTER_CONFIG").ok());
        if let Some(path) = file {
            config.apply_file(&path)?;
        }
        config.apply_env(|k| std::env::var(k).ok())?;
        for (key, value) in overrides {
            config.set(key, value)?;
        }
        Ok(config)
    }

    pub fn is_postgres(&self) -> bool {
        self.database_url.starts_with("postgres:") || self.database_url.starts_with("postgresql:")
    }
}

/// Hides the password of a URL (`scheme://user:****@host`).
pub fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut out = match base.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((auth, host)) => match auth.split_once(':') {
                Some((user, _)) => format!("{scheme}://{user}:****@{host}"),
                None => base.to_string(),
            },
            None => base.to_string(),
        },
        None => base.to_string(),
    };
    if let Some(query) = query {
        let parts: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _))
                    if k.to_ascii_lowercase().contains("password")
                        || k.eq_ignore_ascii_case("pass") =>
                {
                    format!("{k}=****")
                }
                _ => pair.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&parts.join("&"));
    }
    out
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("database_url", &redact_url(&self.database_url))
            .field("public_origin", &self.public_origin)
            .field("rp_id", &self.rp_id)
            .field("mail", &redact_url(&self.mail))
            .field("dev", &self.dev)
            .field("tax_rates", &self.tax_rates)
            .field("cors_origins", &self.cors_origins)
            .field("request_timeout_secs", &self.request_timeout_secs)
            .field("body_limit_bytes", &self.body_limit_bytes)
            .field(
                "secret_key",
                &if self.secret_key.is_empty() {
                    ""
                } else {
                    "****"
                },
            )
            .field("secret_key_file", &self.secret_key_file)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_apply_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("charter.toml");
        std::fs::write(
            &path,
            "bind = \"0.0.0.0:1\"\ncsv_max_days = 10\ndev = true\n",
        )
        .unwrap();
        let mut c = Config::default();
        assert_eq!(c.bind, "127.0.0.1:8080");
        c.apply_file(path.to_str().unwrap()).unwrap();
        assert_eq!(
            (c.bind.as_str(), c.csv_max_days, c.dev),
            ("0.0.0.0:1", 10, true)
        );
        c.apply_env(|k| (k == "CHARTER_CSV_MAX_DAYS").then(|| "20".to_string()))
            .unwrap();
        assert_eq!(c.csv_max_days, 20);
        c.set("csv_max_days", "30").unwrap();
        assert_eq!(c.csv_max_days, 30);
        assert!(c.set("nope", "1").is_err());
        assert!(c.set("csv_max_days", "x").is_err());
    }

    #[test]
    fn the_readme_lists_every_setting() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
        for s in SETTINGS {
            let env = format!("CHARTER_{}", s.key.to_ascii_uppercase());
            let line = readme
                .lines()
                .find(|l| l.starts_with(&format!("| `{}` |", s.key)));
            let line = line.unwrap_or_else(|| panic!("README lacks a row for {}", s.key));
            assert!(
                line.contains(&format!("`{env}`")),
                "README row of {} names {env}",
                s.key
            );
            let default = if s.default.is_empty() {
                "(empty)".to_string()
            } else {
                format!("`{}`", s.default)
            };
            assert!(
                line.contains(&default),
                "README row of {} shows the default {default}",
                s.key
            );
        }
    }

    #[test]
    fn secrets_are_redacted() {
        let mut c = Config::default();
        c.set("database_url", "postgres://app:hunter2@db/charter")
            .unwrap();
        c.set("mail", "smtp://mailer:s3cret@mail:587").unwrap();
        assert_eq!(
            redact_url("postgres://db/charter?sslmode=require&password=pw1"),
            "postgres://db/charter?sslmode=require&password=****"
        );
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("s3cret"),
            "{shown}"
        );
    }
}
