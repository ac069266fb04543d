//! The interaction service's use cases ([`Interactions`]): what the handlers, the bus
//! consumers and the Segment ingest call. It knows no protobuf: the handler converts
//! requests and answers, and the adapters (`crate::adapters`) speak to the peers and
//! the bus. One submodule per group of use cases, each an `impl Interactions` block:
//!
//! - [`record`]: record interactions for resolved customers;
//! - [`read`]: timeline, threads, preferences, export, the channel report;
//! - [`consent`]: record and check consent;
//! - [`context`]: the agent's screen (GetContext);
//! - [`segment`]: Segment and RudderStack ingest;
//! - [`stream`]: the live feed of new interactions.

pub mod consent;
pub mod context;
pub mod read;
pub mod record;
pub mod segment;
pub mod stream;

use std::sync::Arc;

use idic_runtime::bus::EventBus;
use idic_runtime::peers::Peers;
use tokio_util::sync::CancellationToken;

use crate::recorder::Recorder;
use crate::store::InteractionStore;

/// What the handlers share with the bus consumers and the Segment ingest.
pub struct Interactions {
    pub store: Arc<dyn InteractionStore>,
    pub peers: Peers,
    pub recorder: Recorder,
    pub bus: Arc<dyn EventBus>,
    pub shutdown: CancellationToken,
}
