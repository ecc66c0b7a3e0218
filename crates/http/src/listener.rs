//! The local server's TCP listener, whose connections answer the HTTP server's own refusals as problems.
//!
//! hyper refuses a request it cannot parse — a header value with a control character, a request target over 64 KB,
//! headers too large — before any route runs, with an empty `400`/`414`/`431`. Every other answer of the API is
//! `application/problem+json`, so those are too: each connection's writes are watched, and a response that hyper
//! wrote on its own (one of those statuses with an empty body; the API itself never answers a 4xx without a body)
//! is replaced by the same status with a problem body. In Lambda, API Gateway parses HTTP and this does not apply.

use crate::problem::Problem;
use axum::http::StatusCode;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// A listener for `axum::serve` whose connections shape hyper's own refusals as problems.
pub struct ProblemListener(pub TcpListener);

impl axum::serve::Listener for ProblemListener {
    type Io = ProblemShapedIo<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (stream, addr) = axum::serve::Listener::accept(&mut self.0).await;
        (ProblemShapedIo::new(stream), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// A connection whose writes are watched for hyper's bare refusals.
pub struct ProblemShapedIo<T> {
    inner: T,
    /// A replacement response still to be written.
    pending: Vec<u8>,
}

impl<T> ProblemShapedIo<T> {
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            pending: Vec::new(),
        }
    }
}

/// The problem for a response hyper wrote on its own, if `bytes` is one.
fn refusal(bytes: &[u8]) -> Option<Problem> {
    let text = std::str::from_utf8(bytes).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    if !body.is_empty() || !head.to_ascii_lowercase().contains("\r\ncontent-length: 0") {
        return None;
    }
    let status = head.strip_prefix("HTTP/1.1 ")?.get(..3)?;
    Some(match status {
        "400" => Problem::bad_request(
            "malformed-request",
            "Malformed request",
            "the request is not valid HTTP/1.1 (for example a header value with a control character)",
        ),
        "414" => Problem::new(
            StatusCode::URI_TOO_LONG,
            "uri-too-long",
            "URI too long",
            "the request target is longer than the server accepts",
        ),
        "431" => Problem::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers-too-large",
            "Request headers too large",
            "the request headers are larger than the server accepts",
        ),
        _ => return None,
    })
}

/// A complete HTTP/1.1 response carrying `problem`, closing the connection (as hyper does after a refusal).
fn response(problem: &Problem) -> Vec<u8> {
    let body = problem.body().to_string();
    format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/problem+json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        problem.status.as_u16(),
        problem.status.canonical_reason().unwrap_or_default(),
        body.len()
    )
    .into_bytes()
}

impl<T: AsyncWrite + Unpin> ProblemShapedIo<T> {
    /// Write what is pending; ready once nothing is.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.pending.is_empty() {
            match Pin::new(&mut self.inner).poll_write(cx, &self.pending) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    self.pending.drain(..n);
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for ProblemShapedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ProblemShapedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.drain(cx)?.is_pending() {
            return Poll::Pending;
        }
        if let Some(problem) = refusal(buf) {
            self.pending = response(&problem);
            // hyper's bytes count as written: what goes out instead is the problem.
            let _ = self.drain(cx)?;
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.drain(cx)?.is_pending() {
            return Poll::Pending;
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.drain(cx)?.is_pending() {
            return Poll::Pending;
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bare_refusals_are_replaced() {
        let bare = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ndate: Fri, 27 Nov 2026 10:00:00 GMT\r\n\r\n";
        assert_eq!(refusal(bare).unwrap().slug, "malformed-request");
        let long = b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(refusal(long).unwrap().status, StatusCode::URI_TOO_LONG);
        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/problem+json\r\ncontent-length: 2\r\n\r\n{}";
        assert!(refusal(ours).is_none());
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        assert!(refusal(ok).is_none());
        let text = String::from_utf8(response(&refusal(bare).unwrap())).unwrap();
        assert!(text
            .starts_with("HTTP/1.1 400 Bad Request\r\ncontent-type: application/problem+json\r\n"));
        assert!(text.ends_with(r#""status":400,"detail":"the request is not valid HTTP/1.1 (for example a header value with a control character)"}"#));
    }
}
