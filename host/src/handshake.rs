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
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};

use crate::guest::Request;

/// Check that `request` is a well-formed WebSocket upgrade we can accept.
#[allow(clippy::result_large_err)]
pub fn validate(method: &Method, headers: &HeaderMap) -> Result<(), Response> {
    if method != Method::GET {
        return Err(refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "a WebSocket upgrade must be a GET request",
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
        assert!(validate(&Method::GET, &upgrade_headers()).is_ok());
    }

    #[test]
    fn a_wrong_version_asks_for_13() {
        let mut headers = upgrade_headers();
        headers.insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("8"));
        let response = validate(&Method::GET, &headers).expect_err("version 8 is refused");
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
        let response = validate(&Method::GET, &headers).expect_err("short key is refused");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
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
