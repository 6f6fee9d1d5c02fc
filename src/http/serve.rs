//! The accept loop: hyper's HTTP/1 server with section 2's connection limits. `axum::serve`
//! cannot set hyper's header read time-out or cap connections, hence a loop of our own.
//!
//! - **Header read time-out**: hyper closes a connection whose request head is not complete
//!   `header_read_timeout_secs` after it started waiting for it. That wait starts when the
//!   connection opens and again after every answer, so an idle kept-alive connection is closed
//!   after the same time (hyper restarts the timer when a connection goes idle; checked on
//!   hyper 1.12, the minimum in Cargo.toml, and by the API test of idle connections).
//! - **Connection cap**: a permit of a `max_connections` semaphore is taken *before* `accept`
//!   and held by the connection's task, so further connections wait in the kernel's backlog.
//! - **Slow readers**: a write that waits `request_timeout_secs` for a client that reads
//!   nothing fails and ends the connection (`Wire`), so such clients cannot hold every permit.
//! - **Graceful shutdown**: on the signal the loop stops accepting; every connection finishes
//!   the request in flight (hyper's `graceful_shutdown`), then closes; `run` returns when the
//!   last one has given its permit back.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tower::ServiceExt;

use crate::config::Config;
use crate::http::wire::Wire;

/// The connection limits of section 2.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) max_connections: usize,
    pub(crate) header_read_timeout: Duration,
    /// A client that reads none of an answer for this long loses the connection.
    pub(crate) write_stall: Duration,
}

impl Limits {
    pub(crate) fn of(config: &Config) -> Limits {
        Limits {
            max_connections: config.max_connections,
            header_read_timeout: Duration::from_secs(config.header_read_timeout_secs.max(1)),
            write_stall: Duration::from_secs(config.request_timeout_secs.max(1)),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then drains (see the module comment).
pub(crate) async fn run(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    // `acquire_many` (the drain below) counts in u32.
    let capacity = limits
        .max_connections
        .clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
    let permits = Arc::new(Semaphore::new(capacity));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let http = Arc::new(http);
    // Dropping the sender tells every connection to finish up.
    let (stop, stopped) = watch::channel(());
    let mut shutdown = pin!(shutdown);

    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break, // never closed
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // Most likely out of file descriptors: wait for some to close.
                    tracing::error!(error = %e, "accept failed");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        () = &mut shutdown => break,
                    }
                }
            },
            () = &mut shutdown => break,
        };
        tokio::spawn(connection(
            http.clone(),
            app.clone(),
            stream,
            peer,
            stopped.clone(),
            permit,
            limits.write_stall,
        ));
    }

    drop(listener);
    drop(stop);
    // Every connection task holds a permit until it ends.
    let _all = permits.acquire_many(capacity as u32).await;
}

/// One connection: the router with the peer address as `ConnectInfo`, as `axum::serve` gives it,
/// behind `Wire` (problem answers to requests hyper rejects).
async fn connection(
    http: Arc<http1::Builder>,
    app: Router,
    stream: TcpStream,
    peer: SocketAddr,
    mut stop: watch::Receiver<()>,
    _permit: OwnedSemaphorePermit,
    write_stall: Duration,
) {
    let service = service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        app.clone().oneshot(request.map(Body::new))
    });
    let io = TokioIo::new(Wire::new(stream, write_stall));
    let mut conn = pin!(http.serve_connection(io, service));
    let result = tokio::select! {
        result = conn.as_mut() => result,
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            conn.as_mut().await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::sync::Notify;

    use super::*;

    #[tokio::test]
    async fn shutdown_finishes_the_request_in_flight_and_stops_accepting() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let entered = Arc::new(Notify::new());
        let handler_entered = entered.clone();
        let app = Router::new().route(
            "/slow",
            get(move || async move {
                handler_entered.notify_one();
                tokio::time::sleep(Duration::from_millis(200)).await;
                "done"
            }),
        );
        let (signal, signalled) = tokio::sync::oneshot::channel::<()>();
        let limits = Limits {
            max_connections: 10,
            header_read_timeout: Duration::from_secs(5),
            write_stall: Duration::from_secs(5),
        };
        let server = tokio::spawn(run(listener, app, limits, async {
            let _ = signalled.await;
        }));

        let mut stream = TcpStream::connect(address).await.unwrap();
        stream
            .write_all(b"GET /slow HTTP/1.1\r\nHost: charter\r\n\r\n")
            .await
            .unwrap();
        entered.notified().await;
        signal.send(()).unwrap();

        let mut answer = String::new();
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut answer));
        read.await.expect("closed after the answer").unwrap();
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
        assert!(answer.ends_with("done"), "{answer}");
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("run returns once drained")
            .unwrap();
        assert!(
            TcpStream::connect(address).await.is_err(),
            "still accepting"
        );
    }
}
