//! The bearer token the manual controls need.

/// Why a control was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No token is configured: controls are off (403).
    Disabled,
    /// The `Authorization` header is missing or carries another token (401).
    BadToken,
}

/// `Ok` when `authorization` (the header's value, if any) is
/// `Bearer <token>` for the configured token.
pub(crate) fn check(configured: Option<&str>, authorization: Option<&str>) -> Result<(), Refusal> {
    let Some(token) = configured else {
        return Err(Refusal::Disabled);
    };
    let given = authorization
        .and_then(|v| v.trim().strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(g) if constant_time_eq(g.as_bytes(), token.as_bytes()) => Ok(()),
        _ => Err(Refusal::BadToken),
    }
}

/// Equality whose time does not depend on where the inputs first differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        assert_eq!(check(None, Some("Bearer x")), Err(Refusal::Disabled));
        assert_eq!(check(Some("x"), None), Err(Refusal::BadToken));
        assert_eq!(check(Some("x"), Some("Bearer y")), Err(Refusal::BadToken));
        assert_eq!(check(Some("x"), Some("Basic x")), Err(Refusal::BadToken));
        assert_eq!(check(Some("x"), Some("Bearer xx")), Err(Refusal::BadToken));
        assert_eq!(check(Some("x"), Some("Bearer x")), Ok(()));
        assert_eq!(check(Some("x"), Some(" Bearer x ")), Ok(()));
    }
}
