//! What permessage-deflate costs per echoed message with each deflate
//! backend: zlib-rs, which the host uses since it honours the window sizes
//! clients ask for (yawc's `zlib` feature), against miniz_oxide, which it
//! used before (flate2's default). Both run here in one process, the way
//! yawc drives them: fast deflate (level 1), raw streams, context takeover,
//! each message compressed with a partial then a sync flush and inflated
//! with a sync flush. One "echo" is inflating what a client sent and
//! deflating the reply, over a connection's life of 100 messages (its
//! compressor and decompressor made once).
//!
//!     cargo bench -p switchboard --bench deflate
//!
//! docs/benchmarks.md has the ratio from a run.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use miniz_oxide::deflate::core::CompressorOxide;
use miniz_oxide::inflate::stream::InflateState;
use miniz_oxide::{DataFormat, MZFlush};

/// Chat-like JSON messages of 60-300 bytes, and one 16 KiB document.
fn workloads() -> Vec<(&'static str, Vec<Vec<u8>>)> {
    let words = [
        "hello",
        "anyone",
        "here",
        "the",
        "deploy",
        "went",
        "fine",
        "see",
        "you",
        "at",
        "noon",
        "switchboard",
        "message",
        "thanks",
        "great",
        "room",
    ];
    let mut state = 7u32;
    let mut next = move || {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        (state >> 16) as usize
    };
    let chat: Vec<Vec<u8>> = (0..100)
        .map(|index| {
            let text: Vec<&str> = (0..5 + next() % 40)
                .map(|_| words[next() % words.len()])
                .collect();
            format!(
                r#"{{"type":"message","from":"user{}","id":{index},"text":"{}"}}"#,
                next() % 50,
                text.join(" ")
            )
            .into_bytes()
        })
        .collect();
    let document: Vec<u8> = chat
        .iter()
        .flatten()
        .copied()
        .cycle()
        .take(16 << 10)
        .collect();
    vec![("chat messages", chat), ("16 KiB JSON", vec![document; 10])]
}

/// The messages as a client sends them: one raw deflate stream, each
/// message ending in a sync flush with its 00 00 ff ff removed.
fn compressed_by_client(messages: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut deflate = flate2::Compress::new(flate2::Compression::default(), false);
    messages
        .iter()
        .map(|message| {
            let mut out = Vec::with_capacity(message.len() + 64);
            deflate
                .compress_vec(message, &mut out, flate2::FlushCompress::Sync)
                .expect("deflate");
            assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
            out.truncate(out.len() - 4);
            out
        })
        .collect()
}

const TAIL: [u8; 4] = [0, 0, 0xff, 0xff];

/// One connection's echoes through zlib-rs (flate2 in this build): the
/// bytes inflated and the bytes of compressed replies.
fn echo_zlib_rs(sent: &[Vec<u8>], out: &mut Vec<u8>) -> (usize, usize) {
    let mut inflate = flate2::Decompress::new(false);
    let mut deflate = flate2::Compress::new(flate2::Compression::fast(), false);
    let (mut inflated, mut total) = (0, 0);
    for frame in sent {
        out.clear();
        for part in [frame.as_slice(), &TAIL] {
            let start = inflate.total_in();
            loop {
                out.reserve(4096);
                let spare = out.capacity() - out.len();
                let before = out.len();
                let consumed = (inflate.total_in() - start) as usize;
                inflate
                    .decompress_vec(&part[consumed..], out, flate2::FlushDecompress::Sync)
                    .expect("inflate");
                let consumed = (inflate.total_in() - start) as usize;
                if consumed == part.len() && out.len() - before < spare {
                    break;
                }
            }
        }
        let message = std::mem::take(out);
        inflated += message.len();
        let mut reply = Vec::with_capacity(message.len() + 64);
        let start = deflate.total_in();
        while ((deflate.total_in() - start) as usize) < message.len() {
            reply.reserve(1024);
            let consumed = (deflate.total_in() - start) as usize;
            deflate
                .compress_vec(
                    &message[consumed..],
                    &mut reply,
                    flate2::FlushCompress::Partial,
                )
                .expect("deflate");
        }
        while !reply.ends_with(&TAIL) {
            reply.reserve(64);
            deflate
                .compress_vec(&[], &mut reply, flate2::FlushCompress::Sync)
                .expect("flush");
        }
        total += reply.len() - 4;
        *out = message;
    }
    (inflated, total)
}

/// The same through miniz_oxide.
fn echo_miniz(sent: &[Vec<u8>], out: &mut Vec<u8>) -> (usize, usize) {
    let mut inflate = InflateState::new_boxed(DataFormat::Raw);
    let mut deflate = Box::<CompressorOxide>::default();
    deflate.set_format_and_level(DataFormat::Raw, 1);
    let (mut inflated, mut total) = (0, 0);
    for frame in sent {
        out.clear();
        for part in [frame.as_slice(), &TAIL] {
            let mut input = part;
            loop {
                let start = out.len();
                let space = input.len() * 8 + 1024;
                out.resize(start + space, 0);
                let result = miniz_oxide::inflate::stream::inflate(
                    &mut inflate,
                    input,
                    &mut out[start..],
                    MZFlush::Sync,
                );
                assert!(
                    !matches!(result.status, Err(error) if error != miniz_oxide::MZError::Buf),
                    "inflate failed"
                );
                out.truncate(start + result.bytes_written);
                input = &input[result.bytes_consumed..];
                if input.is_empty() && result.bytes_written < space {
                    break;
                }
            }
        }
        let message = std::mem::take(out);
        inflated += message.len();
        let mut reply = vec![0u8; message.len() + 1024];
        let mut written = 0;
        let mut input = message.as_slice();
        for flush in [MZFlush::Partial, MZFlush::Sync] {
            loop {
                let result = miniz_oxide::deflate::stream::deflate(
                    &mut deflate,
                    input,
                    &mut reply[written..],
                    flush,
                );
                written += result.bytes_written;
                input = &input[result.bytes_consumed..];
                if input.is_empty() && written < reply.len() {
                    break;
                }
                reply.resize(reply.len() + 1024, 0);
            }
        }
        assert!(
            reply[..written].ends_with(&TAIL),
            "a sync flush ends in 00 00 ff ff"
        );
        total += written - 4;
        *out = message;
    }
    (inflated, total)
}

fn deflate_backends(c: &mut Criterion) {
    for (name, messages) in workloads() {
        let sent = compressed_by_client(&messages);
        let bytes: usize = messages.iter().map(Vec::len).sum();
        // Both backends inflate every message whole; print what each
        // compresses the replies to.
        let mut out = Vec::new();
        let (inflated, zlib_rs_bytes) = echo_zlib_rs(&sent, &mut out);
        assert_eq!(inflated, bytes);
        let (inflated, miniz_bytes) = echo_miniz(&sent, &mut out);
        assert_eq!(inflated, bytes);
        println!(
            "{name}: {bytes} bytes compress to {zlib_rs_bytes} (zlib-rs), {miniz_bytes} (miniz_oxide)"
        );
        let mut group = c.benchmark_group(format!("deflate echo, {name}"));
        group.throughput(Throughput::Bytes(bytes as u64));
        group.bench_function("zlib-rs", |b| {
            b.iter(|| echo_zlib_rs(black_box(&sent), &mut out))
        });
        group.bench_function("miniz_oxide", |b| {
            b.iter(|| echo_miniz(black_box(&sent), &mut out))
        });
        group.finish();
    }
}

criterion_group!(benches, deflate_backends);
criterion_main!(benches);
