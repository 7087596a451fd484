//! The HTTP side of opening a WebSocket (RFC 6455 section 4.2): checking the
//! upgrade request, and describing it to the app for `on-open`.
//!
//! The checks run before the app is asked, so a guest never sees a request
//! that could not become a WebSocket, and a client that got the handshake
//! wrong learns why from the status: 426 with the version or upgrade we speak
//! when it asked for something else, 400 for a malformed request.

use std::net::SocketAddr;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Version, header};

use crate::guest::Request;

/// Check that `request` is a well-formed WebSocket upgrade we can accept.
#[allow(clippy::result_large_err)]
pub fn validate(method: &Method, version: Version, headers: &HeaderMap) -> Result<(), Response> {
    if method != Method::GET {
        return Err(refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "a WebSocket upgrade must be a GET request",
        ));
    }
    // RFC 6455 4.1: the opening handshake is an HTTP/1.1 request. HTTP/1.0
    // has no upgrade: hyper would answer `HTTP/1.0 101` and close the
    // connection at once, after the app had accepted it.
    if version < Version::HTTP_11 {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "a WebSocket upgrade must be an HTTP/1.1 request",
        ));
    }
    if !header_has_token(headers, header::UPGRADE, "websocket") {
        let mut response = refuse(
            StatusCode::UPGRADE_REQUIRED,
            "this is a WebSocket endpoint: send Upgrade: websocket",
        );
        let headers = response.headers_mut();
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        return Err(response);
    }
    if !header_has_token(headers, header::CONNECTION, "upgrade") {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "the Connection header must include Upgrade",
        ));
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .map(HeaderValue::as_bytes)
        != Some(b"13")
    {
        let mut response = refuse(
            StatusCode::UPGRADE_REQUIRED,
            "unsupported Sec-WebSocket-Version: this server speaks version 13",
        );
        response.headers_mut().insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        return Err(response);
    }
    let key_is_valid = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .and_then(|key| {
            base64::engine::general_purpose::STANDARD
                .decode(key.as_bytes())
                .ok()
        })
        .is_some_and(|nonce| nonce.len() == 16);
    if !key_is_valid {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "Sec-WebSocket-Key must be a base64-encoded 16-byte nonce",
        ));
    }
    Ok(())
}

/// The request as the app's `on-open` sees it.
pub fn describe(uri: &http::Uri, headers: &HeaderMap, remote: SocketAddr) -> Request {
    Request {
        path: uri.path().to_string(),
        query: uri.query().map(str::to_string),
        headers: headers
            .iter()
            .filter_map(|(name, value)| {
                let value = value.to_str().ok()?;
                Some((name.as_str().to_string(), value.to_string()))
            })
            .collect(),
        remote_address: remote.to_string(),
        subprotocols: offered_subprotocols(headers),
    }
}

/// The subprotocols a client offered, in its order of preference; the header
/// may be repeated and each value is a comma-separated list.
pub fn offered_subprotocols(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|token| !token.is_empty())
        .map(str::to_string)
        .collect()
}

/// Whether every permessage-deflate offer can be accepted as made. Our
/// compressor always uses a 32 KiB window (2^15); an offer that limits the
/// server's window (`server_max_window_bits` under 15) cannot be honoured,
/// and RFC 7692 7.1.2.1 says to decline rather than widen it silently, which
/// yawc would do. Declining means the connection runs uncompressed.
pub fn deflate_offers_acceptable(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::SEC_WEBSOCKET_EXTENSIONS)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter(|offer| {
            offer
                .split(';')
                .next()
                .is_some_and(|name| name.trim().eq_ignore_ascii_case("permessage-deflate"))
        })
        .all(|offer| {
            offer.split(';').skip(1).all(|parameter| {
                let (name, value) = parameter.split_once('=').unwrap_or((parameter, ""));
                if !name.trim().eq_ignore_ascii_case("server_max_window_bits") {
                    return true;
                }
                let bits = value.trim().trim_matches('"');
                bits.is_empty() || bits.parse::<u8>().is_ok_and(|bits| bits >= 15)
            })
        })
}

/// Whether a comma-separated header contains `token`, ignoring ASCII case.
fn header_has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| item.trim().eq_ignore_ascii_case(token))
}

/// A plain-text refusal.
pub fn refuse(status: StatusCode, body: impl Into<String>) -> Response {
    let mut response = (status, Body::from(body.into())).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upgrade_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        headers.insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        headers.insert(
            header::SEC_WEBSOCKET_KEY,
            HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="),
        );
        headers
    }

    #[test]
    fn a_well_formed_upgrade_passes() {
        assert!(validate(&Method::GET, Version::HTTP_11, &upgrade_headers()).is_ok());
    }

    #[test]
    fn an_http_1_0_upgrade_is_a_bad_request() {
        let response = validate(&Method::GET, Version::HTTP_10, &upgrade_headers())
            .expect_err("HTTP/1.0 cannot upgrade");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn a_wrong_version_asks_for_13() {
        let mut headers = upgrade_headers();
        headers.insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("8"));
        let response =
            validate(&Method::GET, Version::HTTP_11, &headers).expect_err("version 8 is refused");
        assert_eq!(response.status(), StatusCode::UPGRADE_REQUIRED);
        assert_eq!(response.headers()[header::SEC_WEBSOCKET_VERSION], "13");
    }

    #[test]
    fn a_short_key_is_a_bad_request() {
        let mut headers = upgrade_headers();
        headers.insert(
            header::SEC_WEBSOCKET_KEY,
            HeaderValue::from_static("c2hvcnQ="),
        );
        let response =
            validate(&Method::GET, Version::HTTP_11, &headers).expect_err("short key is refused");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn a_deflate_offer_that_narrows_our_window_is_declined() {
        let offer = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::SEC_WEBSOCKET_EXTENSIONS,
                HeaderValue::from_static(value),
            );
            deflate_offers_acceptable(&headers)
        };
        assert!(offer("permessage-deflate; client_max_window_bits"));
        assert!(offer("permessage-deflate; server_max_window_bits=15"));
        assert!(offer("x-other; server_max_window_bits=8"));
        assert!(!offer("permessage-deflate; server_max_window_bits=10"));
        assert!(!offer(
            "permessage-deflate; server_max_window_bits=\"9\", permessage-deflate"
        ));
    }

    #[test]
    fn subprotocols_keep_the_clients_order_across_headers() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("v2.chat, v1.chat"),
        );
        headers.append(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("json"),
        );
        assert_eq!(
            offered_subprotocols(&headers),
            ["v2.chat", "v1.chat", "json"]
        );
    }
}
