//! The file's one hash: stable across processes and builds.

/// FNV-1a, 64 bits: a stable hash (std's hashers are seeded per process).
pub(super) fn fnv1a(words: impl IntoIterator<Item = u8>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in words {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// FNV-1a of words, as their little-endian bytes.
pub(super) fn hash_words(w: &[u64]) -> u64 {
    fnv1a(w.iter().flat_map(|x| x.to_le_bytes()))
}
