//! Adapters: where interaction meets protobuf beyond its own gRPC surface, so that the
//! service layer speaks domain types only. [`identity`] and [`differentiation`] call
//! those services; [`bus`] encodes and decodes the events on the bus.

pub mod bus;
pub mod differentiation;
pub mod identity;

/// What a peer answered for one part of a context: its part, nothing (the peer knows
/// nothing, not a failure), or a failure (an error or no answer within the budget).
#[derive(Debug, Clone, PartialEq)]
pub enum PeerPart<T> {
    Found(T),
    Nothing,
    Failed,
}
