//! An upgrade request as the host keeps it for `attachments.info`: packed
//! into one string plus the offsets of its parts.
//!
//! Every open connection keeps its request for as long as it lives, and as
//! the WIT record (a string per path, address, header name and header value)
//! it is a dozen or more small allocations: on an idle connection that was a
//! tenth of what it cost the host, more with a browser's headers. Packed, it
//! is two allocations, unpacked only when a guest asks.

use super::Request;

pub struct PackedRequest {
    /// Path, query (if any), remote address, header names and values in
    /// turn, then the offered subprotocols, back to back.
    text: Box<str>,
    /// Where each of those parts ends in `text`.
    ends: Box<[u32]>,
    has_query: bool,
    headers: u32,
}

impl PackedRequest {
    pub fn pack(request: &Request) -> PackedRequest {
        let mut parts: Vec<&str> = Vec::with_capacity(3 + 2 * request.headers.len());
        parts.push(&request.path);
        if let Some(query) = &request.query {
            parts.push(query);
        }
        parts.push(&request.remote_address);
        for (name, value) in &request.headers {
            parts.push(name);
            parts.push(value);
        }
        parts.extend(request.subprotocols.iter().map(String::as_str));

        let mut text = String::with_capacity(parts.iter().map(|part| part.len()).sum());
        let mut ends = Vec::with_capacity(parts.len());
        for part in parts {
            text.push_str(part);
            // A request head is bounded by hyper far below 4 GiB.
            ends.push(u32::try_from(text.len()).unwrap_or(u32::MAX));
        }
        PackedRequest {
            text: text.into_boxed_str(),
            ends: ends.into_boxed_slice(),
            has_query: request.query.is_some(),
            headers: u32::try_from(request.headers.len()).unwrap_or(u32::MAX),
        }
    }

    pub fn unpack(&self) -> Request {
        let mut start = 0usize;
        let mut parts = self.ends.iter().map(|&end| {
            let end = end as usize;
            let part = self.text.get(start..end).unwrap_or_default().to_string();
            start = end;
            part
        });
        let path = parts.next().unwrap_or_default();
        let query = if self.has_query { parts.next() } else { None };
        let remote_address = parts.next().unwrap_or_default();
        let mut headers = Vec::with_capacity(self.headers as usize);
        for _ in 0..self.headers {
            let name = parts.next().unwrap_or_default();
            let value = parts.next().unwrap_or_default();
            headers.push((name, value));
        }
        Request {
            path,
            query,
            headers,
            remote_address,
            subprotocols: parts.collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(query: Option<&str>, subprotocols: &[&str]) -> Request {
        Request {
            path: "/chat".into(),
            query: query.map(str::to_string),
            headers: vec![
                ("host".into(), "127.0.0.1:8080".into()),
                (
                    "sec-websocket-key".into(),
                    "dGhlIHNhbXBsZSBub25jZQ==".into(),
                ),
                ("x-empty".into(), String::new()),
                ("user-agent".into(), "naïve/1.0 ✓".into()),
            ],
            remote_address: "127.0.0.1:50000".into(),
            subprotocols: subprotocols.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn every_part_comes_back_as_it_was() {
        for original in [
            request(Some("name=ann&room=1"), &["chat.v2", "chat.v1"]),
            request(None, &[]),
            request(Some(""), &[""]),
        ] {
            let unpacked = PackedRequest::pack(&original).unpack();
            assert_eq!(unpacked.path, original.path);
            assert_eq!(unpacked.query, original.query);
            assert_eq!(unpacked.headers, original.headers);
            assert_eq!(unpacked.remote_address, original.remote_address);
            assert_eq!(unpacked.subprotocols, original.subprotocols);
        }
    }
}
