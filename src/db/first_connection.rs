//! The first connection to PostgreSQL at start, made once directly and with a short time-out
//! before the pool is built, so that a server that is down, or a database that does not exist,
//! is reported at once and in words (the pool would retry until its 30 s acquire time-out and
//! then say only "pool timed out"). Later connections keep the pool's time-out: a server that is
//! slow under load is not an error.

use std::str::FromStr;
use std::time::Duration;

use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgConnection};

/// How long the first connection may take.
const FIRST_CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);

/// Why [`Db::connect`](super::Db::connect) failed: a sqlx error as it is, or a failure of the
/// first PostgreSQL connection said in words (naming the host and port, never the password).
pub enum ConnectError {
    Sqlx(sqlx::Error),
    Startup {
        message: String,
        cause: Option<sqlx::Error>,
    },
}

impl From<sqlx::Error> for ConnectError {
    fn from(e: sqlx::Error) -> Self {
        ConnectError::Sqlx(e)
    }
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::Sqlx(e) => e.fmt(f),
            ConnectError::Startup { message, .. } => f.write_str(message),
        }
    }
}

impl std::fmt::Debug for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::Sqlx(e) => e.fmt(f),
            ConnectError::Startup { message, .. } => f.write_str(message),
        }
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConnectError::Sqlx(e) => e.source(),
            ConnectError::Startup { cause, .. } => cause
                .as_ref()
                .map(|e| e as &(dyn std::error::Error + 'static)),
        }
    }
}

/// Connects once to the PostgreSQL database of `url` and closes the connection again.
pub(super) async fn check_postgres(url: &str) -> Result<(), ConnectError> {
    let options = PgConnectOptions::from_str(url)?;
    match tokio::time::timeout(
        FIRST_CONNECTION_TIMEOUT,
        PgConnection::connect_with(&options),
    )
    .await
    {
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
            Ok(())
        }
        Ok(Err(e)) => Err(explain(&options, e)),
        Err(_) => Err(ConnectError::Startup {
            message: format!(
                "cannot connect to PostgreSQL at {}: no answer within {} s \
                 (is the host reachable, and the port right?)",
                place(&options),
                FIRST_CONNECTION_TIMEOUT.as_secs()
            ),
            cause: None,
        }),
    }
}

/// Where the URL points: `host:port` (or the socket folder and port).
fn place(options: &PgConnectOptions) -> String {
    match options.get_socket() {
        Some(dir) => format!("{} (port {})", dir.display(), options.get_port()),
        None => format!("{}:{}", options.get_host(), options.get_port()),
    }
}

fn explain(options: &PgConnectOptions, e: sqlx::Error) -> ConnectError {
    let place = place(options);
    let message = match &e {
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => format!(
            "cannot connect to PostgreSQL at {place}: connection refused \
             (is the server running, and listening on that host and port?)"
        ),
        sqlx::Error::Io(io) => format!("cannot connect to PostgreSQL at {place}: {io}"),
        sqlx::Error::Database(db) if db.code().as_deref() == Some("3D000") => {
            let user = options.get_username();
            let name = options.get_database().unwrap_or(user);
            let host = match options.get_socket() {
                Some(dir) => dir.display().to_string(),
                None => options.get_host().to_string(),
            };
            format!(
                "the database \"{name}\" does not exist on PostgreSQL at {place}; create it \
                 with `createdb -h {host} -p {port} -U {user} {name}`, or in psql with \
                 `CREATE DATABASE {ident};`",
                port = options.get_port(),
                ident = sql_identifier(name),
            )
        }
        sqlx::Error::Database(db) => match db.code() {
            Some(code) => format!(
                "PostgreSQL at {place} refused the connection: {} (SQLSTATE {code})",
                db.message()
            ),
            None => format!(
                "PostgreSQL at {place} refused the connection: {}",
                db.message()
            ),
        },
        other => format!("cannot connect to PostgreSQL at {place}: {other}"),
    };
    ConnectError::Startup {
        message,
        cause: Some(e),
    }
}

/// `name` as PostgreSQL reads it: bare when it is a plain lower-case name, quoted otherwise.
fn sql_identifier(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_quoted_only_when_needed() {
        assert_eq!(sql_identifier("charter"), "charter");
        assert_eq!(sql_identifier("charter_2"), "charter_2");
        assert_eq!(sql_identifier("Charter"), "\"Charter\"");
        assert_eq!(sql_identifier("my-db"), "\"my-db\"");
        assert_eq!(sql_identifier("a\"b"), "\"a\"\"b\"");
    }

    #[tokio::test]
    async fn a_port_where_nothing_listens_is_refused_at_once() {
        let started = std::time::Instant::now();
        let e = check_postgres("postgres://postgres:s3cret@127.0.0.1:1/x")
            .await
            .unwrap_err()
            .to_string();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(e.contains("connection refused"), "{e}");
        assert!(e.contains("127.0.0.1:1"), "{e}");
        assert!(!e.contains("s3cret"), "{e}");
    }
}
