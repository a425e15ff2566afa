//! The body of [`Fault::OversizedAnswer`](crate::Fault::OversizedAnswer):
//! a valid QoS answer of any size, streamed from a few pieces repeated, so
//! a 50 MB answer costs the simulator kilobytes.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncRead, ReadBuf};
use tokio_util::io::ReaderStream;

const HEAD: &[u8] = br#"{"user_id":"16778240","user_name":"Oversized","user_qos":["#;
/// One sample in Zoom's shape, and the comma after it.
const SAMPLE: &[u8] = br#"{"date_time":"2021-06-24T20:00:00Z","audio_input":{"bitrate":"23 kbps","latency":"126 ms","jitter":"6 ms","avg_loss":"0.3%","max_loss":"1.9%"},"audio_output":{"bitrate":"63 kbps","latency":"134 ms","jitter":"6 ms","avg_loss":"0.0%","max_loss":"0.0%"},"cpu_usage":{"zoom_min_cpu_usage":"8%","zoom_avg_cpu_usage":"12%","zoom_max_cpu_usage":"18%","system_max_cpu_usage":"40%"}},"#;
/// The last entry (no comma after it) and the end of the document.
const TAIL: &[u8] = br#"{"date_time":"2021-06-24T20:01:00Z"}]}"#;

/// A 200 whose body is exactly `bytes` long (or the smallest valid answer
/// when `bytes` is smaller): the head, as many samples as fit, spaces (JSON
/// whitespace) to make up the size, the tail.
pub(super) fn answer(bytes: u64, announce_length: bool) -> Response {
    let frame = (HEAD.len() + TAIL.len()) as u64;
    let room = bytes.saturating_sub(frame);
    let samples = room / SAMPLE.len() as u64;
    let padding = room % SAMPLE.len() as u64;
    let pieces = VecDeque::from([
        (Bytes::from_static(HEAD), 1),
        (Bytes::from_static(SAMPLE), samples),
        (Bytes::from(vec![b' '; padding as usize]), 1),
        (Bytes::from_static(TAIL), 1),
    ]);
    let total = frame + samples * SAMPLE.len() as u64 + padding;
    let stream = ReaderStream::with_capacity(Repeated { pieces, offset: 0 }, 64 * 1024);
    let mut response = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(stream),
    )
        .into_response();
    if announce_length {
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, header::HeaderValue::from(total));
    }
    response
}

/// Reads each piece its number of times, in order.
struct Repeated {
    pieces: VecDeque<(Bytes, u64)>,
    /// Position in the front piece.
    offset: usize,
}

impl AsyncRead for Repeated {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        while buf.remaining() > 0 {
            let Some((piece, times)) = this.pieces.front_mut() else {
                break;
            };
            if *times == 0 || piece.is_empty() {
                this.pieces.pop_front();
                this.offset = 0;
                continue;
            }
            let rest = &piece[this.offset..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.offset += n;
            if this.offset == piece.len() {
                this.offset = 0;
                *times -= 1;
            }
        }
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    async fn body_of(bytes: u64) -> Vec<u8> {
        let frame = (HEAD.len() + TAIL.len()) as u64;
        let room = bytes.saturating_sub(frame);
        let mut reader = Repeated {
            pieces: VecDeque::from([
                (Bytes::from_static(HEAD), 1),
                (Bytes::from_static(SAMPLE), room / SAMPLE.len() as u64),
                (
                    Bytes::from(vec![b' '; (room % SAMPLE.len() as u64) as usize]),
                    1,
                ),
                (Bytes::from_static(TAIL), 1),
            ]),
            offset: 0,
        };
        let mut body = Vec::new();
        reader.read_to_end(&mut body).await.expect("reads");
        body
    }

    #[tokio::test]
    async fn the_body_has_the_size_asked_for_and_is_a_qos_answer() {
        for size in [0, 100, 10_000, 123_457] {
            let body = body_of(size).await;
            let expected = size.max((HEAD.len() + TAIL.len()) as u64);
            assert_eq!(body.len() as u64, expected);
            let json: serde_json::Value = serde_json::from_slice(&body).expect("valid JSON");
            let samples = json["user_qos"].as_array().expect("user_qos").len() as u64;
            let room = expected - (HEAD.len() + TAIL.len()) as u64;
            assert_eq!(samples, room / SAMPLE.len() as u64 + 1);
        }
    }

    #[tokio::test]
    async fn the_response_streams_and_announces_only_when_asked() {
        let announced = answer(1_000_000, true);
        assert_eq!(
            announced
                .headers()
                .get(header::CONTENT_LENGTH)
                .map(|v| v.as_bytes()),
            Some(&b"1000000"[..])
        );
        let chunked = answer(1_000_000, false);
        assert!(chunked.headers().get(header::CONTENT_LENGTH).is_none());
        let body = axum::body::to_bytes(chunked.into_body(), 2_000_000)
            .await
            .expect("body");
        assert_eq!(body.len(), 1_000_000);
    }
}
