//! The HTTP/1.1 codec on arbitrary bytes: request heads, response heads and every body framing. It must never
//! panic, and what it reports must hold together (a parsed head consumed bytes; a body never yields more than
//! its buffer held).
#![no_main]

use apim_gateway::http1::{Chunk, Framing, Parsed, ResponseHeaders, Step, VerbatimHead, parse_request, parse_response, step};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut buf = BytesMut::from(data);
    let before = buf.len();
    if let Ok(Some(Parsed::Request(_))) = parse_request(&mut buf) {
        assert!(buf.len() < before);
    }
    for method in [http::Method::GET, http::Method::HEAD] {
        for form in [ResponseHeaders::Map, ResponseHeaders::VerbatimWhenPlain] {
            let mut buf = BytesMut::from(data);
            if let Ok(Some((parts, mut framing, _))) = parse_response(&mut buf, &method, form) {
                if let Some(verbatim) = parts.extensions.get::<VerbatimHead>() {
                    let mut lines = Vec::new();
                    verbatim.write_lines(&mut lines);
                    assert!(lines.len() <= data.len());
                }
                drain(&mut framing, &mut buf);
            }
        }
    }
    for mut framing in [Framing::Chunked(Chunk::Size), Framing::Length(data.len() as u64 / 2), Framing::UntilClose] {
        drain(&mut framing, &mut BytesMut::from(data));
    }
});

/// Runs a body decoder over what the buffer holds, then as if the peer closed.
fn drain(framing: &mut Framing, buf: &mut BytesMut) {
    let total = buf.len();
    let mut seen = 0;
    for eof in [false, true] {
        loop {
            match step(framing, buf, eof) {
                Ok(Step::Data(b)) => {
                    seen += b.len();
                    assert!(seen <= total);
                }
                Ok(Step::Done) | Ok(Step::More) | Err(_) => break,
            }
        }
    }
}
