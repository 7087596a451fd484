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

/// Whether a request asks for a WebSocket upgrade at all (a browser
/// opening the URL as a page does not).
pub fn asks_for_upgrade(headers: &HeaderMap) -> bool {
    header_has_token(headers, header::UPGRADE, "websocket")
}

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

/// The permessage-deflate response (RFC 7692) to the client's offers, or
/// `None` to decline them all (the connection then runs uncompressed).
///
/// yawc negotiates too, but not as RFC 7692 asks: it reads only a single
/// offer (a header with two offers is declined whole), answers an offer of
/// `server_max_window_bits=8` with a bare `server_max_window_bits` (which a
/// client must fail on), and answers the bare `client_max_window_bits`
/// every browser sends with `=9`, shrinking the browser's window to 512
/// bytes. So the host answers itself and hands yawc its answer:
///
/// - the first offer whose parameters are all known, each at most once,
///   with valid values, is accepted; malformed offers are skipped (7.1);
/// - `server_no_context_takeover` and `client_no_context_takeover` are
///   confirmed when asked for (7.1.1);
/// - `server_max_window_bits=N` is confirmed with N (7.1.2.1). We compress
///   with a window of N bits, or 9 for N = 8: zlib cannot make raw deflate
///   with a 256-byte window, and with 512 bytes it never reaches back more
///   than 250 bytes (its window less 262), so the stream fits 8 bits;
/// - `client_max_window_bits=N` is confirmed with N, so we inflate with no
///   larger window than the client uses; the bare form is left out of the
///   answer, and we inflate with the full 32 KiB window (7.1.2.2).
pub fn negotiate_deflate(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::SEC_WEBSOCKET_EXTENSIONS)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .find_map(accept_deflate_offer)
}

/// The answer to one offer, if it is a permessage-deflate offer we can
/// accept as made.
fn accept_deflate_offer(offer: &str) -> Option<String> {
    let mut parts = offer.split(';');
    let name = parts.next()?.trim();
    if !name.eq_ignore_ascii_case("permessage-deflate") {
        return None;
    }
    let mut server_no_context_takeover = false;
    let mut client_no_context_takeover = false;
    let mut server_max_window_bits: Option<u8> = None;
    // `Some(None)`: offered without a value.
    let mut client_max_window_bits: Option<Option<u8>> = None;
    for parameter in parts {
        let (key, value) = match parameter.split_once('=') {
            Some((key, value)) => (key.trim(), Some(unquote(value.trim())?)),
            None => (parameter.trim(), None),
        };
        match (key.to_ascii_lowercase().as_str(), value) {
            ("server_no_context_takeover", None) if !server_no_context_takeover => {
                server_no_context_takeover = true;
            }
            ("client_no_context_takeover", None) if !client_no_context_takeover => {
                client_no_context_takeover = true;
            }
            ("server_max_window_bits", Some(bits)) if server_max_window_bits.is_none() => {
                server_max_window_bits = Some(window_bits(bits)?);
            }
            ("client_max_window_bits", bits) if client_max_window_bits.is_none() => {
                client_max_window_bits = Some(match bits {
                    Some(bits) => Some(window_bits(bits)?),
                    None => None,
                });
            }
            // Unknown, repeated, or a value where none belongs (or none
            // where one must be): decline this offer.
            _ => return None,
        }
    }
    let mut answer = String::from("permessage-deflate");
    if server_no_context_takeover {
        answer.push_str("; server_no_context_takeover");
    }
    if client_no_context_takeover {
        answer.push_str("; client_no_context_takeover");
    }
    if let Some(bits) = server_max_window_bits {
        answer.push_str(&format!("; server_max_window_bits={bits}"));
    }
    if let Some(Some(bits)) = client_max_window_bits {
        answer.push_str(&format!("; client_max_window_bits={bits}"));
    }
    Some(answer)
}

/// A parameter value, which RFC 7692 allows as a token or a quoted string.
fn unquote(value: &str) -> Option<&str> {
    match value.strip_prefix('"') {
        Some(quoted) => quoted.strip_suffix('"'),
        None => Some(value),
    }
}

/// A window size: 8 to 15, in decimal without leading zeros (RFC 7692 7.1.2).
fn window_bits(value: &str) -> Option<u8> {
    if value.starts_with('0') || !value.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    value.parse().ok().filter(|bits| (8..=15).contains(bits))
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
    fn deflate_offers_are_answered_as_rfc_7692_asks() {
        let answer = |values: &[&'static str]| {
            let mut headers = HeaderMap::new();
            for value in values {
                headers.append(
                    header::SEC_WEBSOCKET_EXTENSIONS,
                    HeaderValue::from_static(value),
                );
            }
            negotiate_deflate(&headers)
        };
        let accepted = |answer: &str| Some(answer.to_string());
        // What browsers send: the bare client window is not narrowed.
        assert_eq!(
            answer(&["permessage-deflate; client_max_window_bits"]),
            accepted("permessage-deflate")
        );
        // Every server window from 8 to 15 is confirmed as asked.
        for bits in [8, 9, 12, 15] {
            let offer = format!("permessage-deflate; server_max_window_bits={bits}");
            let mut headers = HeaderMap::new();
            headers.insert(
                header::SEC_WEBSOCKET_EXTENSIONS,
                HeaderValue::from_str(&offer).expect("a valid header"),
            );
            assert_eq!(
                negotiate_deflate(&headers),
                Some(format!("permessage-deflate; server_max_window_bits={bits}"))
            );
        }
        assert_eq!(
            answer(&[
                "permessage-deflate; client_no_context_takeover; server_no_context_takeover; \
                 server_max_window_bits=\"10\"; client_max_window_bits=11"
            ]),
            accepted(
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                 server_max_window_bits=10; client_max_window_bits=11"
            )
        );
        // Several offers, in one header or several: the first valid one.
        assert_eq!(
            answer(&[
                "permessage-deflate; server_max_window_bits=16, permessage-deflate; server_max_window_bits=9, permessage-deflate"
            ]),
            accepted("permessage-deflate; server_max_window_bits=9")
        );
        assert_eq!(
            answer(&[
                "x-webkit-deflate-frame",
                "permessage-deflate; server_no_context_takeover"
            ]),
            accepted("permessage-deflate; server_no_context_takeover")
        );
        // Malformed offers are declined: a bare server window, a value out
        // of range or with a leading zero, an unknown or repeated parameter.
        for offer in [
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; client_max_window_bits=09",
            "permessage-deflate; client_max_window_bits=16",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; mystery",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "x-other; server_max_window_bits=8",
        ] {
            assert_eq!(answer(&[offer]), None, "{offer}");
        }
        assert_eq!(answer(&[]), None);
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
