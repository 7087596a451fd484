//! Any request head a client can send must get an answer from the upgrade
//! checks, never a panic: method, URI and headers from arbitrary bytes.
#![no_main]

use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri, Version};
use libfuzzer_sys::fuzz_target;
use switchboard::handshake;

fuzz_target!(|data: &[u8]| {
    let mut lines = data.split(|&byte| byte == b'\n');
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.splitn(2, |&byte| byte == b' ');
    let method = Method::from_bytes(parts.next().unwrap_or_default()).unwrap_or(Method::GET);
    let uri = parts
        .next()
        .and_then(|target| Uri::try_from(target).ok())
        .unwrap_or_else(|| Uri::from_static("/"));
    let mut headers = HeaderMap::new();
    for line in lines {
        let Some(colon) = line.iter().position(|&byte| byte == b':') else {
            continue;
        };
        let (name, value) = line.split_at(colon);
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name),
            HeaderValue::from_bytes(value[1..].trim_ascii()),
        ) {
            headers.append(name, value);
        }
    }
    for version in [Version::HTTP_10, Version::HTTP_11] {
        let _ = handshake::validate(&method, version, &headers);
    }
    let request = handshake::describe(&uri, &headers, ([127, 0, 0, 1], 4242).into());
    assert_eq!(request.path, uri.path());
    let _ = handshake::offered_subprotocols(&headers);
    let _ = handshake::negotiate_deflate(&headers);
});
