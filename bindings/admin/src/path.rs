//! Request targets: the path without its query, percent-decoded segments.

/// The path of a request target (`/a/b?x=1` → `/a/b`).
pub(crate) fn path_of(target: &str) -> &str {
    target.split(['?', '#']).next().unwrap_or("")
}

/// A percent-encoded path segment decoded as UTF-8; `None` when the
/// encoding or the UTF-8 is bad.
pub(crate) fn decode_segment(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None; // from_str_radix would take a sign
            }
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_segments() {
        assert_eq!(path_of("/breakers?x=1"), "/breakers");
        assert_eq!(path_of(""), "");
        assert_eq!(decode_segment("db%3Aget").as_deref(), Some("db:get"));
        assert_eq!(decode_segment("a%22b%0Ac").as_deref(), Some("a\"b\nc"));
        assert_eq!(decode_segment("%"), None);
        assert_eq!(decode_segment("%4"), None);
        assert_eq!(decode_segment("%zz"), None);
        assert_eq!(decode_segment("%+1"), None);
        assert_eq!(decode_segment("%FF"), None); // not UTF-8
        assert_eq!(decode_segment("é").as_deref(), Some("é"));
    }
}
