//! C ABI for fusebox (in progress).
