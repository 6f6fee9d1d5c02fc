//! The rows of the transactions export and their CSV form, read two ways from the same SQL:
//! on a SQLite file, one statement stepped on a blocking thread (a consistent snapshot, each
//! value borrowed in place); elsewhere, keyset-paged chunks through the shared pool.

use std::io;

use axum::body::{Body, Bytes};
use futures_util::stream;

use super::store::{self, TRANSACTIONS_SQL};
use super::{HEADER, Range, neutralise};
use crate::db::Db;
use crate::error::ApiError;
use crate::time::{MICROS_PER_SECOND, Timestamp};

/// Rows per page on the paged path.
const PAGE: i64 = 5000;
/// Bytes of CSV gathered before a chunk goes to the client.
const CHUNK_BYTES: usize = 128 * 1024;
/// Chunks that may wait for a slow client: memory stays at about `QUEUE × CHUNK_BYTES`.
const QUEUE: usize = 4;
/// How long a chunk may wait for a client that does not read before the export is abandoned.
const STALLED_CLIENT: std::time::Duration = std::time::Duration::from_secs(60);

/// One exported transaction, borrowed from wherever the row lives.
pub struct Transaction<'a> {
    pub at: i64,
    pub kind: &'a str,
    pub id: &'a str,
    pub invoice_id: &'a str,
    pub subscription_id: &'a str,
    pub amount: i64,
    pub currency: &'a str,
}

/// Writes transactions as CSV (with the csv crate) into a buffer that is handed out in chunks.
pub struct CsvSink {
    writer: csv::Writer<Vec<u8>>,
    time: TimeFormatter,
}

impl CsvSink {
    fn writer() -> csv::Writer<Vec<u8>> {
        // RFC 4180: records end with CRLF; fields are quoted only when they must be.
        csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(Vec::with_capacity(CHUNK_BYTES + 16 * 1024))
    }

    pub fn with_header() -> io::Result<Self> {
        let mut writer = Self::writer();
        writer.write_record(HEADER).map_err(io::Error::other)?;
        Ok(CsvSink {
            writer,
            time: TimeFormatter::default(),
        })
    }

    pub fn write(&mut self, t: &Transaction<'_>) -> io::Result<()> {
        let mut amount = itoa::Buffer::new();
        let w = &mut self.writer;
        // The time is ours and always starts with a digit; the other text cells are neutralised.
        w.write_field(self.time.format(t.at))
            .map_err(io::Error::other)?;
        w.write_field(neutralise(t.kind).as_bytes())
            .map_err(io::Error::other)?;
        w.write_field(neutralise(t.id).as_bytes())
            .map_err(io::Error::other)?;
        w.write_field(neutralise(t.invoice_id).as_bytes())
            .map_err(io::Error::other)?;
        w.write_field(neutralise(t.subscription_id).as_bytes())
            .map_err(io::Error::other)?;
        w.write_field(amount.format(t.amount))
            .map_err(io::Error::other)?;
        w.write_field(neutralise(t.currency).as_bytes())
            .map_err(io::Error::other)?;
        w.write_record(None::<&[u8]>).map_err(io::Error::other)
    }

    /// Bytes written so far and not yet taken (the csv writer's own small buffer aside).
    pub fn pending(&self) -> usize {
        self.writer.get_ref().len()
    }

    /// Everything written so far.
    pub fn take(&mut self) -> io::Result<Bytes> {
        let full = std::mem::replace(&mut self.writer, Self::writer());
        let bytes = full
            .into_inner()
            .map_err(|e| io::Error::other(e.to_string()))?;
        Ok(Bytes::from(bytes))
    }
}

/// RFC 3339 in UTC exactly as `Timestamp::to_rfc3339` writes it, without its per-call
/// allocation and calendar arithmetic: the date part is computed once per day.
#[derive(Default)]
pub struct TimeFormatter {
    day: Option<i64>,
    /// `YYYY-MM-DDT` of `day`, or empty when the year does not fit four digits.
    date: String,
    out: Vec<u8>,
}

impl TimeFormatter {
    pub fn format(&mut self, micros: i64) -> &[u8] {
        let seconds = micros.div_euclid(MICROS_PER_SECOND);
        let fraction = micros.rem_euclid(MICROS_PER_SECOND);
        let day = seconds.div_euclid(86_400);
        if self.day != Some(day) {
            let midnight = Timestamp::from_micros(day * 86_400 * MICROS_PER_SECOND).to_rfc3339();
            self.date = match midnight.get(..11) {
                Some(date) if midnight.len() == 20 => date.to_string(),
                _ => String::new(),
            };
            self.day = Some(day);
        }
        self.out.clear();
        if self.date.is_empty() {
            self.out
                .extend_from_slice(Timestamp::from_micros(micros).to_rfc3339().as_bytes());
            return &self.out;
        }
        self.out.extend_from_slice(self.date.as_bytes());
        let of_day = seconds - day * 86_400;
        for (value, end) in [(of_day / 3600, b':'), ((of_day / 60) % 60, b':')] {
            self.out.extend_from_slice(&[
                b'0' + (value / 10) as u8,
                b'0' + (value % 10) as u8,
                end,
            ]);
        }
        let s = of_day % 60;
        self.out
            .extend_from_slice(&[b'0' + (s / 10) as u8, b'0' + (s % 10) as u8]);
        if fraction != 0 {
            // Nanoseconds, nine digits, trailing zeros dropped (as the time crate writes them).
            let mut digits = *b".000000000";
            let mut n = fraction * 1000;
            for d in digits[1..].iter_mut().rev() {
                *d = b'0' + (n % 10) as u8;
                n /= 10;
            }
            let len = digits.iter().rposition(|&d| d != b'0').unwrap_or(0) + 1;
            self.out.extend_from_slice(&digits[..len]);
        }
        self.out.push(b'Z');
        &self.out
    }
}

/// The CSV body: the bulk SQLite reader where there is one, else keyset pages.
pub async fn body(db: &Db, org_id: String, range: Range) -> Result<Body, ApiError> {
    let opener = db.clone();
    // Opened, and the statement prepared once, before the answer starts: a failure here is
    // still a 500001 rather than a cut-off file.
    let bulk = tokio::task::spawn_blocking(move || {
        opener.open_bulk_reader().map(|opened| {
            opened.and_then(|conn| {
                conn.prepare(TRANSACTIONS_SQL)?;
                Ok(conn)
            })
        })
    })
    .await
    .map_err(ApiError::internal)?;
    match bulk {
        Some(conn) => {
            let conn = conn.map_err(ApiError::internal)?;
            Ok(stream_from_sqlite(conn, org_id, range))
        }
        None => Ok(paged(db.clone(), org_id, range)),
    }
}

/// Why the blocking reader stopped early.
enum Stop {
    ClientGone,
    Failed(io::Error),
}

impl From<rusqlite::Error> for Stop {
    fn from(e: rusqlite::Error) -> Self {
        Stop::Failed(io::Error::other(e))
    }
}

impl From<io::Error> for Stop {
    fn from(e: io::Error) -> Self {
        Stop::Failed(e)
    }
}

fn stream_from_sqlite(conn: rusqlite::Connection, org_id: String, range: Range) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(QUEUE);
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        // A client that stays connected but stops reading must not hold this thread and its
        // snapshot forever.
        let send = |chunk: io::Result<Bytes>| match runtime
            .block_on(tokio::time::timeout(STALLED_CLIENT, tx.send(chunk)))
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Stop::ClientGone),
            Err(_) => {
                tracing::warn!("transactions export abandoned: the client stopped reading");
                Err(Stop::ClientGone)
            }
        };
        let run = || -> Result<(), Stop> {
            let mut statement = conn.prepare(TRANSACTIONS_SQL)?;
            let mut rows = statement.query(rusqlite::named_params! {
                "$1": org_id,
                "$2": range.from.micros(),
                "$3": range.to.micros(),
                "$4": i64::MIN,
                "$5": "",
                "$6": -1i64, // no limit: one statement, one snapshot
            })?;
            let mut sink = CsvSink::with_header()?;
            while let Some(row) = rows.next()? {
                let text = |i: usize| -> rusqlite::Result<&str> {
                    Ok(row.get_ref(i)?.as_str_or_null()?.unwrap_or(""))
                };
                sink.write(&Transaction {
                    at: row.get(0)?,
                    kind: text(1)?,
                    id: text(2)?,
                    invoice_id: text(3)?,
                    subscription_id: text(4)?,
                    amount: row.get(5)?,
                    currency: text(6)?,
                })?;
                if sink.pending() >= CHUNK_BYTES {
                    send(sink.take())?;
                }
            }
            send(sink.take())
        };
        let failure = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
            Ok(Ok(()) | Err(Stop::ClientGone)) => None,
            Ok(Err(Stop::Failed(e))) => Some(e),
            Err(_) => Some(io::Error::other("the export reader panicked")),
        };
        if let Some(e) = failure {
            // Headers are gone already: abort the body, so the client sees a failed transfer
            // rather than a file that looks complete.
            tracing::error!(error = %e, "transactions export failed mid-stream");
            let _ = send(Err(e));
        }
    });
    Body::from_stream(stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    }))
}

/// Keyset pages of the same SQL through the shared pool (PostgreSQL, in-memory SQLite).
fn paged(db: Db, org_id: String, range: Range) -> Body {
    struct Cursor {
        db: Db,
        org_id: String,
        range: Range,
        after: (i64, String),
        sink: Option<CsvSink>,
        done: bool,
    }
    async fn next_page(c: &mut Cursor) -> io::Result<Option<Bytes>> {
        if c.done {
            return Ok(None);
        }
        let sink = match &mut c.sink {
            Some(sink) => sink,
            None => c.sink.insert(CsvSink::with_header()?),
        };
        let rows =
            store::transactions_after(&c.db, &c.org_id, c.range, (c.after.0, &c.after.1), PAGE)
                .await
                .map_err(io::Error::other)?;
        c.done = (rows.len() as i64) < PAGE;
        for row in rows {
            sink.write(&Transaction {
                at: row.at,
                kind: &row.kind,
                id: &row.id,
                invoice_id: &row.invoice_id,
                subscription_id: &row.subscription_id,
                amount: row.amount,
                currency: &row.currency,
            })?;
            c.after = (row.at, row.id);
        }
        sink.take().map(Some)
    }
    let cursor = Cursor {
        db,
        org_id,
        range,
        after: (i64::MIN, String::new()),
        sink: None,
        done: false,
    };
    Body::from_stream(stream::unfold(cursor, |mut c| async move {
        match next_page(&mut c).await {
            Ok(Some(bytes)) => Some((Ok(bytes), c)),
            Ok(None) => None,
            Err(e) => {
                tracing::error!(error = %e, "transactions export failed mid-stream");
                c.done = true;
                Some((Err(e), c))
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_as_to_rfc3339_writes_them() {
        let mut f = TimeFormatter::default();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut samples = vec![
            0,
            1,
            -1,
            999_999,
            1_000_000,
            86_399_999_999,
            -86_400_000_000,
        ];
        samples.push(Timestamp::parse_date("2024-02-29").unwrap().micros() + 123_000);
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            // Between 1970 and ~2300, with every kind of fraction.
            let micros = (seed % 10_000_000_000_000_000) as i64;
            samples.push(micros);
            samples.push(micros - micros % 1_000_000);
            samples.push(micros - micros % 1_000);
        }
        for micros in samples {
            let expected = Timestamp::from_micros(micros).to_rfc3339();
            assert_eq!(
                std::str::from_utf8(f.format(micros)).unwrap(),
                expected,
                "{micros}"
            );
        }
    }

    #[test]
    fn rows_are_rfc4180_with_neutralised_text() {
        let mut sink = CsvSink::with_header().unwrap();
        sink.write(&Transaction {
            at: 0,
            kind: "refund",
            id: "ref_1",
            invoice_id: "=cmd|' /C calc'!A0",
            subscription_id: "sub,\"x\"",
            amount: -1250,
            currency: "EUR",
        })
        .unwrap();
        let text = String::from_utf8(sink.take().unwrap().to_vec()).unwrap();
        assert_eq!(
            text,
            "occurredAt,type,id,invoiceId,subscriptionId,amount,currency\r\n\
             1970-01-01T00:00:00Z,refund,ref_1,'=cmd|' /C calc'!A0,\"sub,\"\"x\"\"\",-1250,EUR\r\n"
        );
    }
}
