//! The `charter` binary: `serve` (default), `migrate`, `bootstrap-admin`, `openapi`.

use std::io::Write;

use clap::{Parser, Subcommand};
use tokio::net::TcpListener;

use charter::app::{AppState, anyhow_like};
use charter::clock::Clock;
use charter::config::Config;
use charter::db::Db;

#[derive(Parser)]
#[command(
    name = "charter",
    version,
    about = "Accounts, organizations and subscription commerce, in one binary"
)]
struct Cli {
    /// A TOML configuration file (also CHARTER_CONFIG).
    #[arg(long, global = true)]
    config: Option<String>,
    /// Address to listen on (CHARTER_BIND).
    #[arg(long, global = true)]
    bind: Option<String>,
    /// Database URL (DATABASE_URL).
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// Enable the test clock (CHARTER_DEV).
    #[arg(long, global = true)]
    dev: bool,
    /// Any setting, as key=value (see the README); overrides file and environment.
    #[arg(long = "set", value_name = "KEY=VALUE", global = true)]
    set: Vec<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create (or find) a platform administrator and print a new all-scopes access token.
    BootstrapAdmin {
        #[arg(long)]
        email: String,
    },
    /// Print the OpenAPI document (as `GET /openapi.json` serves it) and exit; needs no
    /// configuration or database.
    Openapi,
}

fn overrides(cli: &Cli) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    if let Some(v) = &cli.bind {
        out.push(("bind".to_string(), v.clone()));
    }
    if let Some(v) = &cli.database_url {
        out.push(("database_url".to_string(), v.clone()));
    }
    if cli.dev {
        out.push(("dev".to_string(), "true".to_string()));
    }
    for pair in &cli.set {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("--set expects KEY=VALUE, got `{pair}`"))?;
        out.push((k.trim().to_string(), v.to_string()));
    }
    Ok(out)
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("charter: {e}");
        std::process::exit(1);
    }
}

async fn run() -> anyhow_like::Result<()> {
    let mut cli = Cli::parse();
    let command = match cli.command.take() {
        // Before the configuration: a client generator needs no database or settings.
        Some(Command::Openapi) => {
            let doc = serde_json::to_string_pretty(&charter::app::openapi())?;
            // An error, not println!'s panic, when the reader goes away (`| head`).
            writeln!(std::io::stdout().lock(), "{doc}")?;
            return Ok(());
        }
        Some(command) => command,
        None => Command::Serve,
    };
    let config = Config::load(cli.config.as_deref(), &overrides(&cli)?)?;
    charter::logging::init(&config);
    match command {
        Command::Openapi => unreachable!("printed before the configuration is read"),
        Command::Serve => {
            tracing::info!(config = ?config, "starting");
            let bind = config.bind.clone();
            let state = AppState::start(config).await?;
            let listener = TcpListener::bind(&bind).await?;
            let address = listener.local_addr()?;
            tracing::info!(%address, "listening");
            if let Some(warning) =
                charter::logging::public_origin_warning(&state.config.public_origin, address)
            {
                tracing::warn!("{warning}");
            }
            charter::app::serve(state, listener).await?;
        }
        Command::Migrate => {
            let db = Db::connect(&config.database_url, 1).await?;
            db.migrate().await?;
            eprintln!("migrations applied");
        }
        Command::BootstrapAdmin { email } => {
            let email = charter::identity::users::Email::parse(&email)
                .ok_or("--email is not a valid e-mail address")?;
            let db = Db::connect(&config.database_url, 1).await?;
            db.migrate().await?;
            let clock = if config.dev {
                Clock::test_clock()
            } else {
                Clock::system()
            };
            clock.sync(&db).await?;
            let (user_id, token) =
                charter::identity::users::bootstrap_admin(&db, &clock, &email).await?;
            println!(
                "{}",
                serde_json::json!({ "userId": user_id, "token": token })
            );
        }
    }
    Ok(())
}
