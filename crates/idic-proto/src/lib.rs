//! The suite's gRPC contracts (`proto/idic/v1`), generated at build time.
//!
//! `idic::v1` holds the messages, clients (`*_client`) and servers (`*_server`);
//! [`FILE_DESCRIPTOR_SET`] feeds server reflection; [`topics`] names the event bus's
//! topics and the events they carry.

#![forbid(unsafe_code)]

pub mod codec;
pub mod topics;

pub mod idic {
    pub mod v1 {
        #![allow(clippy::doc_lazy_continuation, clippy::large_enum_variant)]
        tonic::include_proto!("idic.v1");
    }
}

pub use idic::v1;

/// The encoded descriptors of every contract file and its imports.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/idic_descriptor.bin"));

/// Fully qualified gRPC service names, as health checks and reflection know them.
pub mod service_names {
    pub const IDENTITY: &str = "idic.v1.IdentityService";
    pub const DIFFERENTIATION: &str = "idic.v1.DifferentiationService";
    pub const INTERACTION: &str = "idic.v1.InteractionService";
    pub const CUSTOMIZATION: &str = "idic.v1.CustomizationService";
}
