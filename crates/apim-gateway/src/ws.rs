//! WebSocket APIs: after the handshake (authenticated, subscribed and throttled like any request), bytes are
//! relayed both ways unchanged; the client's frames are counted as they pass (RFC 6455 §5.2 headers are parsed,
//! payloads are not buffered) and each one is throttled. A frame over the limit closes the connection with
//! 1008 (policy violation).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Counts complete frames in a byte stream, whatever the chunking.
#[derive(Default, Debug)]
pub struct FrameCounter {
    /// Header bytes collected so far (a header is at most 14 bytes).
    header: Vec<u8>,
    /// Payload bytes still to skip in the current frame.
    remaining: u64,
    in_payload: bool,
}

impl FrameCounter {
    /// Feeds bytes; returns how many frames ended in them.
    pub fn feed(&mut self, mut data: &[u8]) -> u64 {
        let mut ended = 0;
        while !data.is_empty() {
            if self.in_payload {
                let take = self.remaining.min(data.len() as u64) as usize;
                self.remaining -= take as u64;
                data = &data[take..];
                if self.remaining == 0 {
                    self.in_payload = false;
                    ended += 1;
                }
                continue;
            }
            self.header.push(data[0]);
            data = &data[1..];
            if let Some((header_len, payload)) = header_size(&self.header)
                && self.header.len() == header_len
            {
                self.header.clear();
                if payload == 0 {
                    ended += 1;
                } else {
                    self.remaining = payload;
                    self.in_payload = true;
                }
            }
        }
        ended
    }

    /// Between two frames (nothing of one seen yet): a frame of our own can be put in here.
    pub fn at_boundary(&self) -> bool {
        !self.in_payload && self.header.is_empty()
    }
}

/// Once enough bytes are there: (header length including mask, payload length).
fn header_size(h: &[u8]) -> Option<(usize, u64)> {
    let b1 = *h.get(1)?;
    let mask = if b1 & 0x80 != 0 { 4 } else { 0 };
    match b1 & 0x7f {
        126 => {
            let len = u16::from_be_bytes([*h.get(2)?, *h.get(3)?]);
            Some((4 + mask, u64::from(len)))
        }
        127 => {
            let mut b = [0u8; 8];
            for (i, x) in b.iter_mut().enumerate() {
                *x = *h.get(2 + i)?;
            }
            Some((10 + mask, u64::from_be_bytes(b)))
        }
        n => Some((2 + mask, u64::from(n))),
    }
}

/// A close frame from the server (unmasked): 1008 policy violation with WSO2's throttle code as the reason, or
/// 1001 going away.
fn close_frame(status: u16, reason: &str) -> Vec<u8> {
    // A control frame's payload is at most 125 bytes.
    let reason = &reason.as_bytes()[..reason.len().min(123)];
    let mut f = vec![0x88, (2 + reason.len()) as u8];
    f.extend_from_slice(&status.to_be_bytes());
    f.extend_from_slice(reason);
    f
}

/// Relays until either side closes. Client frames are counted and throttled. A connection silent both ways for
/// half of `idle` gets a ping; if the client still says nothing for as long again, it is closed (1001 going away),
/// so idle connections cannot pile up.
///
/// `admit` is asked once per client frame and answers the WSO2 throttle code when the frame is over a limit;
/// `idle_closed` is told when the relay closes an idle connection. The relay knows nothing else of the gateway.
pub async fn relay<C, B, A, I>(client: C, backend: B, idle: Duration, mut admit: A, idle_closed: I)
where
    C: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
    A: FnMut() -> Option<u32>,
    I: Fn(),
{
    let (mut cr, mut cw) = tokio::io::split(client);
    let (mut br, mut bw) = tokio::io::split(backend);
    // Milliseconds since `base` of the client's last bytes and of anybody's; atomics, as both halves share them.
    let base = Instant::now();
    let since = || u64::try_from(base.elapsed().as_millis()).unwrap_or(u64::MAX);
    let (client_seen, any_seen) = (AtomicU64::new(0), AtomicU64::new(0));
    let upstream = async {
        let mut counter = FrameCounter::default();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match cr.read(&mut buf).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => n,
            };
            client_seen.store(since(), Ordering::Relaxed);
            any_seen.store(since(), Ordering::Relaxed);
            for _ in 0..counter.feed(&buf[..n]) {
                if let Some(code) = admit() {
                    return Some(code);
                }
            }
            if bw.write_all(&buf[..n]).await.is_err() {
                return None;
            }
        }
    };
    // The backend's bytes to the client; also the only writer to the client, so pings and the idle close are sent
    // from here, and only between two of the backend's frames.
    let downstream = async {
        let mut counter = FrameCounter::default();
        let mut buf = vec![0u8; 16 * 1024];
        let mut pinged_at: Option<u64> = None;
        // Half the listener's idle timeout each way: the ping always falls inside a watchdog period, so the
        // listener's idle watchdog (`apim-app`) never cuts a client that would answer it.
        let idle_ms = u64::try_from(idle.as_millis() / 2).unwrap_or(u64::MAX).max(1);
        loop {
            let from = pinged_at.unwrap_or_else(|| any_seen.load(Ordering::Relaxed));
            let wake = base + Duration::from_millis(from.saturating_add(idle_ms));
            tokio::select! {
                read = br.read(&mut buf) => match read {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        any_seen.store(since(), Ordering::Relaxed);
                        counter.feed(&buf[..n]);
                        if cw.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                },
                () = tokio::time::sleep_until(wake) => {
                    let now = since();
                    if let Some(p) = pinged_at {
                        if client_seen.load(Ordering::Relaxed) >= p {
                            pinged_at = None;
                        } else if now >= p.saturating_add(idle_ms) {
                            idle_closed();
                            if counter.at_boundary() {
                                let _ = cw.write_all(&close_frame(1001, "idle timeout")).await;
                            }
                            return;
                        }
                    } else if now.saturating_sub(any_seen.load(Ordering::Relaxed)) >= idle_ms {
                        // A ping with an empty payload; the client's pong goes on to the backend, which ignores it
                        // (RFC 6455 §5.5.3 allows an unsolicited pong).
                        if counter.at_boundary() && cw.write_all(&[0x89, 0x00]).await.is_err() {
                            return;
                        }
                        pinged_at = Some(now);
                    }
                }
            }
        }
    };
    tokio::select! {
        throttled = upstream => {
            if let Some(code) = throttled {
                let _ = cw.write_all(&close_frame(1008, &format!("Websocket frame throttled out ({code})"))).await;
            }
        }
        () = downstream => {}
    }
    let _ = cw.shutdown().await;
    let _ = bw.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A silent connection gets a ping at half the idle timeout; a client that answers stays; one that does not
    /// is closed with 1001 half a period later (paused time: no real waiting).
    #[tokio::test(start_paused = true)]
    async fn idle_clients_are_pinged_then_closed() {
        let idle = Duration::from_secs(60);
        let (mut client, gateway_side) = tokio::io::duplex(4096);
        let (backend_side, mut backend) = tokio::io::duplex(4096);
        let closed = Arc::new(AtomicUsize::new(0));
        let seen = closed.clone();
        let relay = tokio::spawn(async move {
            relay(
                gateway_side,
                backend_side,
                idle,
                || None,
                || {
                    seen.fetch_add(1, Ordering::Relaxed);
                },
            )
            .await
        });
        // Traffic both ways keeps it open.
        client.write_all(&[0x81, 0x80, 0, 0, 0, 0]).await.expect("client frame");
        let mut b = [0u8; 6];
        backend.read_exact(&mut b).await.expect("relayed to the backend");
        // Silence: a ping at half the idle timeout.
        let started = Instant::now();
        let mut ping = [0u8; 2];
        client.read_exact(&mut ping).await.expect("ping");
        assert_eq!(ping, [0x89, 0x00]);
        assert_eq!(started.elapsed().as_secs(), 30);
        // The client answers: the pong goes on to the backend, and the connection stays.
        client.write_all(&[0x8a, 0x80, 0, 0, 0, 0]).await.expect("pong");
        backend.read_exact(&mut b).await.expect("pong relayed");
        client.read_exact(&mut ping).await.expect("a second ping after another silence");
        assert_eq!(ping, [0x89, 0x00]);
        assert_eq!(closed.load(Ordering::Relaxed), 0);
        // No answer: closed with 1001.
        let mut close = Vec::new();
        client.read_to_end(&mut close).await.expect("close frame, then the end");
        assert_eq!(&close[..4], &[0x88, 14, 0x03, 0xe9], "{close:?}");
        assert_eq!(closed.load(Ordering::Relaxed), 1);
        relay.await.expect("relay ends");
    }

    #[test]
    fn frames_are_counted_across_chunks() {
        // A masked 5-byte text frame, a 300-byte frame (16-bit length), an empty ping.
        let mut stream = vec![0x81, 0x85, 1, 2, 3, 4, b'h', b'e', b'l', b'l', b'o'];
        stream.extend_from_slice(&[0x82, 0xfe, 0x01, 0x2c, 9, 9, 9, 9]);
        stream.extend(std::iter::repeat_n(7u8, 300));
        stream.extend_from_slice(&[0x89, 0x80, 0, 0, 0, 0]);
        let mut whole = FrameCounter::default();
        assert_eq!(whole.feed(&stream), 3);
        let mut bytewise = FrameCounter::default();
        assert_eq!(stream.iter().map(|b| bytewise.feed(std::slice::from_ref(b))).sum::<u64>(), 3);
        let mut split = FrameCounter::default();
        assert_eq!(split.feed(&stream[..9]) + split.feed(&stream[9..200]) + split.feed(&stream[200..]), 3);
    }
}
