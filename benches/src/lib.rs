//! Baselines for the benches (see benches/breaker.rs).
