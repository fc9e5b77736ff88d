//! Body types every layer shares: what the gateway answers with and what a client's request carries. A leaf:
//! imports nothing else from the crate.

use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use hyper::body::{Bytes, Frame, Incoming, SizeHint};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type Body = BoxBody<Bytes, BoxError>;

/// A client request's body: hyper's for requests it parsed, or none for the bodiless requests the gateway's own
/// HTTP/1.1 server reads (`inbound`). An enum rather than a boxed body: no allocation per request.
pub enum RequestBody {
    Empty,
    Hyper(Incoming),
    /// A body read whole at the gateway (to validate it), sent on as it was.
    Read(Option<Bytes>),
    /// A body read whole and sent on with trailer fields (an interceptor kept or added them): the data, then the
    /// trailers, of no length known in advance (chunked on HTTP/1.1).
    ReadWithTrailers(Option<Bytes>, Option<http::HeaderMap>),
}

impl From<Incoming> for RequestBody {
    fn from(b: Incoming) -> RequestBody {
        RequestBody::Hyper(b)
    }
}

impl hyper::body::Body for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            RequestBody::Empty => std::task::Poll::Ready(None),
            RequestBody::Hyper(b) => std::pin::Pin::new(b).poll_frame(cx),
            RequestBody::Read(b) => std::task::Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            RequestBody::ReadWithTrailers(data, trailers) => {
                std::task::Poll::Ready(data.take().map(Frame::data).or_else(|| trailers.take().map(Frame::trailers)).map(Ok))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            RequestBody::Empty => true,
            RequestBody::Hyper(b) => b.is_end_stream(),
            RequestBody::Read(b) => b.is_none(),
            RequestBody::ReadWithTrailers(data, trailers) => data.is_none() && trailers.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            RequestBody::Empty => SizeHint::with_exact(0),
            RequestBody::Hyper(b) => b.size_hint(),
            RequestBody::Read(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            RequestBody::ReadWithTrailers(..) => SizeHint::new(),
        }
    }
}

/// A response body of one data frame and then trailer fields; of no length known in advance, so it goes chunked
/// on HTTP/1.1 (the only framing that carries trailers).
pub fn with_trailers(data: Bytes, trailers: http::HeaderMap) -> Body {
    RequestBody::ReadWithTrailers(Some(data), Some(trailers)).map_err(Into::into).boxed()
}

/// Bodies read whole at the gateway (to validate or convert them) are at most this long (413 beyond; a backend's
/// answer beyond: 500).
pub const MAX_VALIDATED_BODY: usize = 10 << 20;

pub enum ReadWhole {
    TooLong,
    Failed(String),
}

/// A body read to its end, at most `MAX_VALIDATED_BODY` bytes (a plain loop: `Limited` makes the request future's
/// `Send` bound too general for the compiler).
pub async fn read_whole<B>(body: &mut B) -> Result<Bytes, ReadWhole>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    read_up_to(body, MAX_VALIDATED_BODY).await
}

/// A body read to its end, at most `limit` bytes; trailer fields are dropped.
pub async fn read_up_to<B>(body: &mut B, limit: usize) -> Result<Bytes, ReadWhole>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    Ok(read_with_trailers(body, limit).await?.0)
}

/// A body read to its end, at most `limit` bytes, with its trailer fields, if it had any.
pub async fn read_with_trailers<B>(body: &mut B, limit: usize) -> Result<(Bytes, Option<http::HeaderMap>), ReadWhole>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    // A body that arrives in one frame (most small ones) is returned as it is, without a copy.
    let mut first: Option<Bytes> = None;
    let mut out = bytes::BytesMut::new();
    let mut trailers: Option<http::HeaderMap> = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ReadWhole::Failed(e.to_string()))?;
        let d = match frame.into_data() {
            Ok(d) => d,
            Err(frame) => {
                if let Ok(t) = frame.into_trailers() {
                    trailers.get_or_insert_with(http::HeaderMap::new).extend(t);
                }
                continue;
            }
        };
        let have = first.as_ref().map_or(out.len(), Bytes::len);
        if have + d.len() > limit {
            return Err(ReadWhole::TooLong);
        }
        match first.take() {
            None if out.is_empty() => first = Some(d),
            earlier => {
                if let Some(f) = earlier {
                    out.extend_from_slice(&f);
                }
                out.extend_from_slice(&d);
            }
        }
    }
    Ok((first.unwrap_or_else(|| out.freeze()), trailers))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body of the given frames (and an error after them, if asked).
    struct Frames(std::collections::VecDeque<Result<Bytes, &'static str>>);

    impl hyper::body::Body for Frames {
        type Data = Bytes;
        type Error = &'static str;
        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<Frame<Bytes>, &'static str>>> {
            std::task::Poll::Ready(self.0.pop_front().map(|r| r.map(Frame::data)))
        }
    }

    fn frames(parts: &[Result<&'static str, &'static str>]) -> Frames {
        Frames(parts.iter().map(|p| p.map(|s| Bytes::from_static(s.as_bytes()))).collect())
    }

    #[tokio::test]
    async fn bodies_are_read_whole_within_their_limit() {
        let whole = |r: Result<Bytes, ReadWhole>| match r {
            Ok(b) => Ok(String::from_utf8_lossy(&b).into_owned()),
            Err(ReadWhole::TooLong) => Err("too long".to_string()),
            Err(ReadWhole::Failed(e)) => Err(e),
        };
        assert_eq!(whole(read_up_to(&mut frames(&[]), 4).await), Ok(String::new()));
        assert_eq!(whole(read_up_to(&mut frames(&[Ok("abcd")]), 4).await), Ok("abcd".into()));
        assert_eq!(whole(read_up_to(&mut frames(&[Ok("ab"), Ok(""), Ok("c"), Ok("d")]), 4).await), Ok("abcd".into()));
        assert_eq!(whole(read_up_to(&mut frames(&[Ok("abcde")]), 4).await), Err("too long".into()));
        assert_eq!(whole(read_up_to(&mut frames(&[Ok("abc"), Ok("de")]), 4).await), Err("too long".into()));
        assert_eq!(whole(read_up_to(&mut frames(&[Ok("ab"), Ok("c"), Ok("de")]), 4).await), Err("too long".into()));
        assert_eq!(whole(read_up_to(&mut frames(&[Ok("ab"), Err("cut")]), 4).await), Err("cut".into()));
    }
}
