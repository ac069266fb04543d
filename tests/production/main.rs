//! The production shape, proven on every change: the four services as four separate
//! processes of the real `idic` binary on PostgreSQL and Redis, authentication on with
//! a key per client, peers reached by their configured addresses, traces exported over
//! OTLP to a receiver in this test.
//!
//! `stories` runs what the callers of the suite do (a call center, an order system, a
//! data protection officer); `faults` breaks PostgreSQL, Redis, a process and a peer in
//! the middle of a load and counts what survived; `metrics` reads what an operator
//! scrapes. The tests of this binary share one PostgreSQL server with other test
//! binaries: the faults are injected through proxies in front of it, never by stopping
//! it, except the one test that restarts it for real when asked
//! (`IDIC_TEST_RESTART_POSTGRES=1`, which `.ci/run` sets).

mod cluster;
mod faults;
mod http;
mod load;
mod metrics;
mod otlp;
mod proxy;
mod stories;

use idic_proto::v1 as pb;

/// A reference by customer id.
pub fn by_id(customer_id: &str) -> Option<pb::CustomerRef> {
    Some(pb::CustomerRef {
        r#ref: Some(pb::customer_ref::Ref::CustomerId(customer_id.to_owned())),
    })
}

/// A reference by one identifier.
pub fn by_identifier(kind: pb::IdentifierKind, value: &str) -> Option<pb::CustomerRef> {
    Some(pb::CustomerRef {
        r#ref: Some(pb::customer_ref::Ref::Identifier(pb::Identifier {
            kind: kind as i32,
            value: value.to_owned(),
            ..Default::default()
        })),
    })
}

pub fn eur(minor_units: i64) -> Option<pb::Money> {
    Some(pb::Money {
        currency: "EUR".into(),
        minor_units,
    })
}

/// Seconds since the epoch as a protobuf timestamp.
pub fn at(seconds: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds, nanos: 0 })
}
