//! Building URLs: the one percent-encoder, for the `next` of a sign-in link (server redirect
//! and browser banner alike) and the form the browser sends a server function.

/// Percent-encodes `text` as a query component, leaving `/` readable.
pub fn encode_component(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => encoded.push(byte as char),
            _ => encoded.push_str(&format!("%{byte:02X}")),
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_what_would_end_the_component() {
        assert_eq!(encode_component("/d/main?w=1h&x"), "/d/main%3Fw%3D1h%26x");
        assert_eq!(encode_component("/ü #"), "/%C3%BC%20%23");
    }
}
