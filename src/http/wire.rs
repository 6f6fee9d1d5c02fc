//! A connection's bytes between the socket and hyper: section 3's problem answer in place of
//! hyper's own answer to a request it cannot parse.
//!
//! hyper answers such a request itself (400 for a raw CR in a header value, an invalid header
//! name or method, differing `Content-Length`s, a `Transfer-Encoding` that is not chunked; 414
//! for a target too long; 431 for a head too large) with a bodyless head, then closes the
//! connection, and has no hook to change that answer. So the write side recognises it: a
//! write that is exactly one complete head of status 400, 414 or 431 with `content-length: 0`
//! and no `content-type`. The router never writes such a head, since every error answer it
//! makes has a problem body; a write that continues a partly written one is never taken for a
//! head. In its place goes 400001 rendered by `ApiError` under a new request id, with
//! `connection: close`, and hyper is told its own bytes were written.
//!
//! Pre-parsing heads with httparse instead would be a second parser that has to reject exactly
//! what hyper rejects (lengths, encodings, limits). The cost of this way: when pipelined
//! answers are still unsent as hyper rejects the next request, its answer leaves in the same
//! write and goes out as hyper wrote it.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::error::ApiError;
use crate::http::request_id;

/// hyper's rejection is a status line, `connection`, `content-length` and `date`: well below.
const MAX_REJECTION_HEAD: usize = 256;

pub(crate) struct Wire<S> {
    inner: S,
    /// The last write took only part of what hyper offered: the next starts inside an answer.
    partial: bool,
    replacement: Option<Replacement>,
    /// How long a write may wait for a client that reads nothing (a slow read would otherwise
    /// hold the connection, and one of `max_connections`, for ever).
    write_stall: std::time::Duration,
    stalled_since: Option<Pin<Box<tokio::time::Sleep>>>,
}

/// Our answer in place of hyper's rejection, and the length of hyper's to report once it is
/// all written.
struct Replacement {
    bytes: Vec<u8>,
    written: usize,
    replaces: usize,
}

impl<S> Wire<S> {
    pub(crate) fn new(inner: S, write_stall: std::time::Duration) -> Wire<S> {
        Wire {
            inner,
            partial: false,
            replacement: None,
            write_stall,
            stalled_since: None,
        }
    }

    /// Passes a write's result on; a write still waiting after `write_stall` fails instead.
    fn unless_stalled<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if poll.is_ready() {
            self.stalled_since = None;
            return poll;
        }
        let stall = self.write_stall;
        let deadline = self
            .stalled_since
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(stall)));
        match deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client has read nothing for too long",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Wire<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Wire<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = this.write(cx, bufs);
        this.unless_stalled(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_flush(cx);
        this.unless_stalled(cx, poll)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.unless_stalled(cx, poll)
    }
}

impl<S: AsyncWrite + Unpin> Wire<S> {
    fn write(&mut self, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let this = self;
        if this.replacement.is_none() && !this.partial {
            this.replacement = Rejection::recognise(bufs).map(|rejection| Replacement {
                bytes: rejection.problem_answer(),
                written: 0,
                replaces: rejection.len,
            });
        }
        if let Some(replacement) = &mut this.replacement {
            while let Some(rest) = replacement
                .bytes
                .get(replacement.written..)
                .filter(|r| !r.is_empty())
            {
                let n = ready!(Pin::new(&mut this.inner).poll_write(cx, rest))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                replacement.written += n;
            }
            let replaces = replacement.replaces;
            this.replacement = None;
            return Poll::Ready(Ok(replaces));
        }
        let offered: usize = bufs.iter().map(|b| b.len()).sum();
        let n = ready!(Pin::new(&mut this.inner).poll_write_vectored(cx, bufs))?;
        this.partial = n < offered;
        Poll::Ready(Ok(n))
    }
}

/// hyper's answer to a request it could not parse.
#[derive(Debug, PartialEq)]
struct Rejection {
    status: u16,
    minor_version: u8,
    date: Option<Vec<u8>>,
    len: usize,
}

impl Rejection {
    fn recognise(bufs: &[IoSlice<'_>]) -> Option<Rejection> {
        let offered: usize = bufs.iter().map(|b| b.len()).sum();
        let first = bufs.iter().find(|b| !b.is_empty())?;
        // A cheap look at the status line first: this runs on every write.
        let status_line = first.get(..12)?;
        if offered > MAX_REJECTION_HEAD
            || !status_line.starts_with(b"HTTP/1.")
            || !matches!(&status_line[9..], b"400" | b"414" | b"431")
        {
            return None;
        }
        let head: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
        let mut headers = [httparse::EMPTY_HEADER; 8];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(&head) {
            Ok(httparse::Status::Complete(len)) if len == head.len() => {}
            _ => return None,
        }
        let status = response.code.filter(|c| matches!(c, 400 | 414 | 431))?;
        let named = |name: &str| {
            response
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
        };
        let bodyless = named("content-length").is_some_and(|h| h.value == b"0");
        if !bodyless || named("content-type").is_some() {
            return None;
        }
        Some(Rejection {
            status,
            minor_version: response.version.unwrap_or(1),
            date: named("date").map(|h| h.value.to_vec()),
            len: head.len(),
        })
    }

    /// 400001 as a complete answer that closes the connection.
    fn problem_answer(&self) -> Vec<u8> {
        let detail = match self.status {
            414 => "The request target is too long.",
            431 => "The request headers are too large.",
            _ => "The request line or headers could not be parsed.",
        };
        let id = crate::crypto::new_id("req");
        tracing::debug!(request_id = %id, status = self.status, "request rejected by the HTTP parser");
        let (status, headers, body) = request_id::scope(id.clone(), || {
            ApiError::argument("request", detail).render()
        });
        let mut answer = Vec::with_capacity(256 + body.len());
        let reason = status.canonical_reason().unwrap_or("");
        answer.extend_from_slice(
            format!(
                "HTTP/1.{} {} {reason}\r\n",
                self.minor_version,
                status.as_str()
            )
            .as_bytes(),
        );
        let mut header = |name: &[u8], value: &[u8]| {
            answer.extend_from_slice(name);
            answer.extend_from_slice(b": ");
            answer.extend_from_slice(value);
            answer.extend_from_slice(b"\r\n");
        };
        for (name, value) in &headers {
            header(name.as_str().as_bytes(), value.as_bytes());
        }
        header(request_id::HEADER.as_str().as_bytes(), id.as_bytes());
        header(b"content-length", body.len().to_string().as_bytes());
        header(b"connection", b"close");
        if let Some(date) = &self.date {
            header(b"date", date);
        }
        answer.extend_from_slice(b"\r\n");
        answer.extend_from_slice(&body);
        answer
    }
}

#[cfg(test)]
mod tests {

    #[tokio::test]
    async fn a_client_that_reads_nothing_loses_the_connection() {
        use tokio::io::AsyncWriteExt as _;
        let (server, _client) = tokio::io::duplex(64);
        let mut wire = Wire::new(server, std::time::Duration::from_millis(100));
        let started = std::time::Instant::now();
        let error = wire
            .write_all(&[b'x'; 4096])
            .await
            .expect_err("the client never reads");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= std::time::Duration::from_millis(100));
    }

    #[tokio::test]
    async fn a_client_that_reads_keeps_the_connection() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let (server, mut client) = tokio::io::duplex(64);
        let mut wire = Wire::new(server, std::time::Duration::from_millis(200));
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            let mut chunk = [0u8; 16];
            while got.len() < 4096 {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                let n = client.read(&mut chunk).await.unwrap();
                got.extend_from_slice(&chunk[..n]);
            }
            got.len()
        });
        wire.write_all(&[b'y'; 4096]).await.unwrap();
        assert_eq!(reader.await.unwrap(), 4096);
    }

    use super::*;

    fn recognise(parts: &[&[u8]]) -> Option<Rejection> {
        let bufs: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
        Rejection::recognise(&bufs)
    }

    const HYPER_400: &[u8] = b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\ndate: Mon, 07 Dec 2026 18:57:38 GMT\r\n\r\n";

    #[test]
    fn recognises_hyper_rejections_only() {
        let rejection = recognise(&[HYPER_400]).expect("hyper's 400");
        assert_eq!(rejection.status, 400);
        assert_eq!(rejection.len, HYPER_400.len());
        assert_eq!(
            rejection.date.as_deref(),
            Some(&b"Mon, 07 Dec 2026 18:57:38 GMT"[..])
        );
        let (a, b) = HYPER_400.split_at(30);
        assert!(recognise(&[b"", a, b]).is_some(), "split over slices");
        let too_long =
            String::from_utf8_lossy(HYPER_400).replace("400 Bad Request", "414 URI Too Long");
        assert_eq!(
            recognise(&[too_long.as_bytes()]).map(|r| r.status),
            Some(414)
        );

        // Ours: a problem body, or not an error hyper makes, or more than one head.
        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/problem+json\r\ncontent-length: 2\r\n\r\n{}";
        assert!(recognise(&[ours]).is_none());
        let head_only = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/problem+json\r\ncontent-length: 0\r\n\r\n";
        assert!(recognise(&[head_only]).is_none());
        assert!(recognise(&[b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"]).is_none());
        assert!(recognise(&[b"HTTP/1.1 204 No Content\r\n\r\n"]).is_none());
        assert!(recognise(&[HYPER_400, b"x"]).is_none());
        assert!(recognise(&[&HYPER_400[..HYPER_400.len() - 2]]).is_none());
        assert!(recognise(&[b"{\"HTTP/1.1 400"]).is_none());
    }

    #[test]
    fn the_answer_is_a_problem_that_closes_the_connection() {
        let answer = recognise(&[HYPER_400]).unwrap().problem_answer();
        let mut headers = [httparse::EMPTY_HEADER; 8];
        let mut response = httparse::Response::new(&mut headers);
        let Ok(httparse::Status::Complete(head)) = response.parse(&answer) else {
            panic!("complete head");
        };
        assert_eq!(response.code, Some(400));
        let named = |name: &str| {
            response
                .headers
                .iter()
                .find(|h| h.name == name)
                .map(|h| String::from_utf8_lossy(h.value).to_string())
        };
        assert_eq!(
            named("content-type").as_deref(),
            Some("application/problem+json")
        );
        assert_eq!(named("connection").as_deref(), Some("close"));
        assert_eq!(
            named("date").as_deref(),
            Some("Mon, 07 Dec 2026 18:57:38 GMT")
        );
        let body: serde_json::Value = serde_json::from_slice(&answer[head..]).unwrap();
        assert_eq!(
            named("content-length"),
            Some((answer.len() - head).to_string())
        );
        assert_eq!(body["code"], 400001);
        assert_eq!(body["argument"], "request");
        assert_eq!(named("x-request-id").as_deref(), body["requestId"].as_str());
    }
}
