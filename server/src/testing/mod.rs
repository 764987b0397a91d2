//! Services that tests and benchmarks start for themselves. The server never uses this
//! module; it is here, beside the server's own embedded PostgreSQL
//! ([`crate::db::embedded::Disposable`]), so the server's unit tests, its `it` tests, the
//! contract tests and the benchmark share one way of doing it.

pub mod redis;
