//! Connection limits: how many connections the hub holds at once, in all and from one
//! address. In: each accepted TCP connection. Out: the connection, counted until it
//! closes, or nothing (it is closed at once) when its address or the hub is at its
//! cap. Sits under TLS, so a refused connection costs no handshake.

use axum_server::accept::Accept;
use std::collections::HashMap;
use std::future::{ready, Ready};
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Open connections, in all and per address.
#[derive(Debug, Default)]
struct Open {
    total: usize,
    per_address: HashMap<IpAddr, usize>,
}

/// The acceptor that counts connections and refuses those over the caps.
#[derive(Debug, Clone)]
pub struct Limited {
    open: Arc<Mutex<Open>>,
    max_total: usize,
    max_per_address: usize,
}

impl Limited {
    /// At most `max_total` connections, `max_per_address` of them from one address.
    pub fn new(max_total: usize, max_per_address: usize) -> Limited {
        Limited {
            open: Arc::default(),
            max_total,
            max_per_address,
        }
    }

    /// Counts a new connection from `ip`, or `None` at a cap.
    fn admit(&self, ip: IpAddr) -> Option<Slot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let mine = open.per_address.get(&ip).copied().unwrap_or(0);
        if open.total >= self.max_total || mine >= self.max_per_address {
            return None;
        }
        open.total += 1;
        open.per_address.insert(ip, mine + 1);
        Some(Slot {
            open: self.open.clone(),
            ip,
        })
    }
}

/// One counted connection; dropping it (the connection closed) frees its place.
#[derive(Debug)]
struct Slot {
    open: Arc<Mutex<Open>>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.per_address.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.per_address.remove(&self.ip);
            }
        }
    }
}

/// A TCP connection with its place in the count.
#[derive(Debug)]
pub struct Counted {
    stream: TcpStream,
    _slot: Slot,
}

impl<S> Accept<TcpStream, S> for Limited {
    type Stream = Counted;
    type Service = S;
    type Future = Ready<io::Result<(Counted, S)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let admitted = stream
            .peer_addr()
            .ok()
            .and_then(|a| self.admit(a.ip()).map(|slot| (a, slot)));
        ready(match admitted {
            Some((_, slot)) => Ok((
                Counted {
                    stream,
                    _slot: slot,
                },
                service,
            )),
            None => {
                // Debug only: a flood must not flood the log as well.
                tracing::debug!(
                    peer = ?stream.peer_addr().ok(),
                    "connection refused: at the connection cap"
                );
                Err(io::Error::new(
                    io::ErrorKind::ConnectionRefused,
                    "at the connection cap",
                ))
            }
        })
    }
}

impl AsyncRead for Counted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_counted_per_address_and_in_all_and_freed_on_close() {
        let l = Limited::new(3, 2);
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let a1 = l.admit(a).unwrap();
        let _a2 = l.admit(a).unwrap();
        assert!(l.admit(a).is_none(), "the address is at its cap");
        let _b1 = l.admit(b).unwrap();
        assert!(l.admit(b).is_none(), "the hub is at its cap");
        drop(a1);
        assert!(l.admit(b).is_some(), "a closed connection frees its place");
    }
}
