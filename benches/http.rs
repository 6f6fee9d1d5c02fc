//! End-to-end HTTP benchmark: starts the release `charter` binary on a fresh SQLite database
//! and drives it from this process over loopback. Run with `cargo bench --bench http`.
//!
//! It reports requests per second for `/healthz` (the bare rate), an authenticated read
//! (`GET /v1/me`), complete e-mail-code sign-ins (start + verify, the code read from the file
//! outbox), and purchases (price calculation + checkout with a card), and the idle resident
//! memory and the peak under load. Ratios are measured in one run on one machine; see
//! docs/BENCHMARKS.md. With `BENCH_DATABASE_URL=postgres://…/postgres` it runs on a fresh
//! PostgreSQL database made (and dropped) through `psql` instead of SQLite.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[path = "../tests/api/soft_passkey.rs"]
mod soft_passkey;

const CONCURRENCY: usize = 64;
/// The page origin the server expects of passkeys (its default `public_origin`).
const ORIGIN: &str = "http://localhost:8080";

struct Server {
    child: Child,
    base: String,
    dir: tempfile::TempDir,
    database_url: String,
    /// On PostgreSQL: the admin URL and the database to drop afterwards.
    postgres: Option<(String, String)>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some((admin, name)) = &self.postgres {
            let _ = Command::new("psql")
                .args([
                    admin.as_str(),
                    "-qc",
                    &format!("DROP DATABASE IF EXISTS {name}"),
                ])
                .status();
        }
    }
}

/// A fresh database: a file in `dir`, or a new PostgreSQL database.
fn fresh_database(dir: &std::path::Path) -> (String, Option<(String, String)>) {
    match std::env::var("BENCH_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        Some(admin) => {
            let name = format!("charter_bench_{}", std::process::id());
            let created = Command::new("psql")
                .args([admin.as_str(), "-qc", &format!("CREATE DATABASE {name}")])
                .status()
                .expect("run psql");
            assert!(created.success(), "CREATE DATABASE {name}");
            let (base, _) = admin.rsplit_once('/').expect("database URL has a path");
            (format!("{base}/{name}"), Some((admin.clone(), name)))
        }
        None => (format!("sqlite://{}/bench.db", dir.display()), None),
    }
}

fn start_server() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let (database_url, postgres) = fresh_database(dir.path());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // Production mode: no test clock (which would read its offset on every request).
    let child = Command::new(env!("CARGO_BIN_EXE_charter"))
        .env("CHARTER_BIND", format!("127.0.0.1:{port}"))
        .env("DATABASE_URL", &database_url)
        .env(
            "CHARTER_MAIL",
            format!("file:{}/outbox.jsonl", dir.path().display()),
        )
        .env("CHARTER_TAX_RATES", "DE=19")
        .env(
            "CHARTER_SECRET_KEY_FILE",
            format!("{}/secret.key", dir.path().display()),
        )
        // The load comes from one address.
        .env("CHARTER_AUTH_STARTS_PER_MINUTE", "0")
        .env(
            "CHARTER_DB_MAX_CONNECTIONS",
            std::env::var("BENCH_DB_CONNECTIONS").unwrap_or_else(|_| "8".into()),
        )
        .env("CHARTER_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start charter (build it with `cargo build --release`)");
    Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
        dir,
        database_url,
        postgres,
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Samples the resident memory every 50 ms and keeps the highest reading.
fn watch_peak_rss(pid: u32) -> Arc<AtomicU64> {
    let peak = Arc::new(AtomicU64::new(0));
    let kept = peak.clone();
    std::thread::spawn(move || {
        loop {
            let now = rss_kib(pid);
            if now == 0 {
                return;
            }
            kept.fetch_max(now, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    peak
}

/// Follows the outbox file and hands out codes by recipient.
#[derive(Clone, Default)]
struct Outbox {
    codes: Arc<Mutex<HashMap<String, String>>>,
}

impl Outbox {
    fn follow(&self, path: std::path::PathBuf) {
        let codes = self.codes.clone();
        std::thread::spawn(move || {
            // One open file, read as it grows.
            let file = loop {
                match std::fs::File::open(&path) {
                    Ok(f) => break f,
                    Err(_) => std::thread::sleep(Duration::from_millis(1)),
                }
            };
            let mut reader = BufReader::new(file);
            let mut line = String::new();
            loop {
                let read = reader.read_line(&mut line).unwrap_or(0);
                if read == 0 || !line.ends_with('\n') {
                    std::thread::sleep(Duration::from_micros(500));
                    continue;
                }
                if let Ok(mail) = serde_json::from_str::<Value>(&line)
                    && let (Some(to), Some(code)) =
                        (mail["to"].as_str(), mail["data"]["code"].as_str())
                {
                    codes
                        .lock()
                        .unwrap()
                        .insert(to.to_string(), code.to_string());
                }
                line.clear();
            }
        });
    }

    async fn code_for(&self, email: &str) -> String {
        loop {
            if let Some(code) = self.codes.lock().unwrap().remove(email) {
                return code;
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }
}

/// Runs `op` from `CONCURRENCY` tasks for `seconds`; returns completed operations per second.
async fn measure<F, Fut>(seconds: u64, op: F) -> f64
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let op = Arc::new(op);
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..CONCURRENCY {
        let (op, done, failed) = (op.clone(), done.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = 0u64;
            while Instant::now() < deadline {
                if op(worker, i).await {
                    done.fetch_add(1, Ordering::Relaxed)
                } else {
                    failed.fetch_add(1, Ordering::Relaxed)
                };
                i += 1;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let failures = failed.load(Ordering::Relaxed);
    if failures > 0 {
        eprintln!("  ({failures} failed operations)");
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

async fn post(
    client: &reqwest::Client,
    url: String,
    token: Option<&str>,
    body: Value,
) -> Option<Value> {
    let mut req = client.post(url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.ok()?;
    if !res.status().is_success() {
        return None;
    }
    res.json().await.ok()
}

async fn sign_in(
    client: &reqwest::Client,
    base: &str,
    outbox: &Outbox,
    email: &str,
) -> Option<String> {
    let start = post(
        client,
        format!("{base}/v1/auth/email-otp/start"),
        None,
        json!({ "email": email }),
    )
    .await?;
    let code = outbox.code_for(email).await;
    let grant = post(
        client,
        format!("{base}/v1/auth/email-otp/verify"),
        None,
        json!({ "challengeId": start["challengeId"], "code": code }),
    )
    .await?;
    grant["sessionToken"].as_str().map(str::to_string)
}

#[tokio::main]
async fn main() {
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    // BENCH_ONLY=healthz,me,signin,passkey,purchase runs a subset (e.g. while profiling).
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let wanted = |name: &str| only.is_empty() || only.split(',').any(|o| o == name);
    let server = start_server();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()
        .unwrap();
    let base = server.base.clone();
    for _ in 0..100 {
        if client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_rss = rss_kib(server.child.id());
    let peak_rss = watch_peak_rss(server.child.id());
    let outbox = Outbox::default();
    outbox.follow(server.dir.path().join("outbox.jsonl"));

    println!(
        "charter HTTP benchmark: {CONCURRENCY} concurrent clients, {seconds} s per scenario, {}",
        if server.postgres.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    );
    println!("idle RSS: {:.1} MiB", idle_rss as f64 / 1024.0);

    if let Ok(file) = std::env::var("BENCH_PID_FILE") {
        let _ = std::fs::write(file, server.child.id().to_string());
    }
    let mut healthz = f64::NAN;
    if wanted("healthz") {
        let c = client.clone();
        let b = base.clone();
        healthz = measure(seconds, move |_, _| {
            let (c, b) = (c.clone(), b.clone());
            async move {
                c.get(format!("{b}/healthz"))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            }
        })
        .await;
        println!("GET /healthz: {healthz:.0} req/s");
    }

    if wanted("me") {
        let token = sign_in(&client, &base, &outbox, "reader@example.com")
            .await
            .expect("sign in");
        let (c, b, t) = (client.clone(), base.clone(), token.clone());
        let me = measure(seconds, move |_, _| {
            let (c, b, t) = (c.clone(), b.clone(), t.clone());
            async move {
                c.get(format!("{b}/v1/me"))
                    .bearer_auth(t)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            }
        })
        .await;
        println!(
            "GET /v1/me (authenticated): {me:.0} req/s = {:.0} % of /healthz",
            100.0 * me / healthz
        );
    }

    if wanted("signin") {
        // Each sign-in uses a fresh address: the hourly quota allows five codes per address.
        let (c, b, o) = (client.clone(), base.clone(), outbox.clone());
        let sign_ins = measure(seconds, move |worker, i| {
            let (c, b, o) = (c.clone(), b.clone(), o.clone());
            async move {
                sign_in(&c, &b, &o, &format!("u{worker}-{i}@example.com"))
                    .await
                    .is_some()
            }
        })
        .await;
        println!("complete e-mail-code sign-ins: {sign_ins:.0} /s");
    }

    if wanted("passkey") {
        let passkey_sign_ins = passkey_sign_ins(&client, &base, &outbox, seconds).await;
        println!(
            "complete passkey sign-ins (start + software authenticator + finish): {passkey_sign_ins:.0} /s"
        );
    }

    if wanted("purchase") {
        purchases(&client, &base, &server, seconds).await;
    }
    println!(
        "RSS after the run: {:.1} MiB; peak under load: {:.1} MiB",
        rss_kib(server.child.id()) as f64 / 1024.0,
        peak_rss.load(Ordering::Relaxed) as f64 / 1024.0
    );
}

async fn purchases(client: &reqwest::Client, base: &str, server: &Server, seconds: u64) {
    match setup_catalogue(client, base, server).await {
        Some((admin, modules)) => {
            let (c, b) = (client.clone(), base.to_string());
            let purchases = measure(seconds, move |worker, i| {
                let (c, b, admin, modules) = (c.clone(), b.clone(), admin.clone(), modules.clone());
                async move {
                    purchase(&c, &b, &admin, &modules, worker, i)
                        .await
                        .is_some()
                }
            })
            .await;
            println!("purchases (price calculation + checkout with a card): {purchases:.0} /s");
        }
        None => println!("purchases: skipped (commerce routes not available)"),
    }
}

/// One user with a registered passkey per client, then passkey sign-ins with an e-mail
/// (`allowCredentials`) from each; the signature is made in the driver, as a browser would.
async fn passkey_sign_ins(
    client: &reqwest::Client,
    base: &str,
    outbox: &Outbox,
    seconds: u64,
) -> f64 {
    let mut authenticators = Vec::new();
    for worker in 0..CONCURRENCY {
        let email = format!("pk{worker}@example.com");
        let token = sign_in(client, base, outbox, &email)
            .await
            .expect("sign in");
        let start = post(
            client,
            format!("{base}/v1/me/passkeys/registration/start"),
            Some(&token),
            json!({}),
        )
        .await
        .expect("registration start");
        let mut authenticator = soft_passkey::SoftAuthenticator::new();
        let credential = authenticator.register(&start["publicKey"], ORIGIN);
        post(
            client,
            format!("{base}/v1/me/passkeys/registration/finish"),
            Some(&token),
            json!({ "challengeId": start["challengeId"], "credential": credential }),
        )
        .await
        .expect("registration finish");
        authenticators.push(Mutex::new(authenticator));
    }
    let authenticators = Arc::new(authenticators);
    let (c, b) = (client.clone(), base.to_string());
    measure(seconds, move |worker, _| {
        let (c, b, authenticators) = (c.clone(), b.clone(), authenticators.clone());
        async move {
            let email = format!("pk{worker}@example.com");
            let Some(start) = post(
                &c,
                format!("{b}/v1/auth/passkey/start"),
                None,
                json!({ "email": email }),
            )
            .await
            else {
                return false;
            };
            let credential = authenticators[worker]
                .lock()
                .unwrap()
                .authenticate(&start["publicKey"], ORIGIN);
            post(
                &c,
                format!("{b}/v1/auth/passkey/finish"),
                None,
                json!({ "challengeId": start["challengeId"], "credential": credential }),
            )
            .await
            .is_some_and(|grant| grant["sessionToken"].is_string())
        }
    })
    .await
}

/// A platform administrator's all-scopes token (from `charter bootstrap-admin` on the same
/// database) and a few modules with active offers.
async fn setup_catalogue(
    client: &reqwest::Client,
    base: &str,
    server: &Server,
) -> Option<(String, Vec<String>)> {
    let dir = server.dir.path();
    let output = Command::new(env!("CARGO_BIN_EXE_charter"))
        .args(["bootstrap-admin", "--email", "bench-admin@example.com"])
        .env("DATABASE_URL", &server.database_url)
        .env(
            "CHARTER_SECRET_KEY_FILE",
            format!("{}/secret.key", dir.display()),
        )
        .env("CHARTER_LOG", "warn")
        .output()
        .ok()?;
    let printed: Value = serde_json::from_slice(&output.stdout).ok()?;
    let admin = printed["token"].as_str()?.to_string();
    let mut modules = Vec::new();
    for i in 0..4 {
        let module = post(
            client,
            format!("{base}/v1/modules"),
            Some(&admin),
            json!({"key": format!("m{i}"), "name": format!("Module {i}"), "description": "bench"}),
        )
        .await?;
        let id = module["id"].as_str()?.to_string();
        post(client, format!("{base}/v1/modules/{id}/offers"), Some(&admin), json!({
            "price": {"amount": 1999, "currency": "EUR"}, "interval": "month",
            "validFrom": "2000-01-01T00:00:00Z", "refundPeriodDays": 14, "agreementRequired": false
        })).await?;
        modules.push(id);
    }
    Some((admin, modules))
}

static ORGS: std::sync::LazyLock<Mutex<HashMap<(usize, usize), String>>> =
    std::sync::LazyLock::new(Default::default);

/// One purchase: a price calculation, then a checkout paying by card.
async fn purchase(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    modules: &[String],
    worker: usize,
    i: u64,
) -> Option<()> {
    // Each organization buys every module once (an organization cannot subscribe to a module
    // twice); creating it is setup, done before its first purchase.
    let slot = i as usize % modules.len();
    let org_key = (worker, i as usize / modules.len());
    let known = ORGS.lock().unwrap().get(&org_key).cloned();
    let org = match known {
        Some(org) => org,
        None => {
            let created = post(
                client,
                format!("{base}/v1/orgs"),
                Some(token),
                json!({"name": format!("o{worker}-{i}"), "country": "DE"}),
            )
            .await?;
            let id = created["id"].as_str()?.to_string();
            ORGS.lock().unwrap().insert(org_key, id.clone());
            id
        }
    };
    let org = org.as_str();
    let module = &modules[slot];
    let calc = post(
        client,
        format!("{base}/v1/orgs/{org}/price-calculations"),
        Some(token),
        json!({"items": [{"moduleId": module, "quantity": 1}]}),
    )
    .await?;
    post(client, format!("{base}/v1/orgs/{org}/checkouts"), Some(token), json!({
        "priceCalculationId": calc["id"], "paymentMethod": {"type": "card", "number": "4242424242424242"}
    }))
    .await?;
    Some(())
}
