//! gRPC handlers of `idic.v1.InteractionService`.

use std::sync::Arc;
use std::time::Duration;

use idic_proto::v1 as pb;
use idic_proto::v1::interaction_service_server::InteractionService;
use idic_runtime::middleware::Deadline;
use idic_runtime::paging::{Page, finish_page};
use idic_runtime::peers::Peers;
use idic_runtime::refs::CustomerSelector;
use idic_runtime::storage::timestamp_from_micros;
use idic_runtime::{ApiError, FieldViolation};
use tonic::{Request, Response, Status};

use crate::domain::{Interaction, TimelineCursor};
use crate::store::InteractionStore;

/// The most a call to identity may take of the caller's deadline.
const RESOLVE_BUDGET: Duration = Duration::from_secs(2);

pub struct InteractionHandler {
    store: Arc<dyn InteractionStore>,
    peers: Peers,
}

impl InteractionHandler {
    pub fn new(store: Arc<dyn InteractionStore>, peers: Peers) -> Self {
        InteractionHandler { store, peers }
    }
}

#[tonic::async_trait]
impl InteractionService for InteractionHandler {
    async fn list_timeline(
        &self,
        request: Request<pb::ListTimelineRequest>,
    ) -> Result<Response<pb::ListTimelineResponse>, Status> {
        let message = request.get_ref();
        let mut violations = Vec::new();
        let selector = CustomerSelector::parse(message.customer.as_ref(), "customer")
            .map_err(|violation| violations.push(violation))
            .ok();
        let page = Page::parse(message.page.as_ref(), "page")
            .map_err(|violation| violations.push(violation))
            .ok();
        let cursor = match page.as_ref().and_then(|page| page.after.as_deref()) {
            None => None,
            Some(text) => match TimelineCursor::decode(text) {
                Some(cursor) => Some(cursor),
                None => {
                    violations.push(FieldViolation::new(
                        "page.page_token",
                        "is not a timeline token",
                    ));
                    None
                }
            },
        };
        let (Some(selector), Some(page), true) = (selector, page, violations.is_empty()) else {
            return Err(ApiError::InvalidArgument(violations).into());
        };
        let budget = Deadline::of(&request).map_or(RESOLVE_BUDGET, |deadline| {
            deadline.remaining().min(RESOLVE_BUDGET)
        });
        let customer_id = self.peers.resolve_customer(&selector, budget).await?;
        let items = self
            .store
            .timeline(&customer_id, cursor.as_ref(), page.fetch_limit())
            .await
            .map_err(ApiError::internal)?;
        let (items, page) = finish_page(&page, items, |item| TimelineCursor::of(item).encode());
        Ok(Response::new(pb::ListTimelineResponse {
            customer_id,
            interactions: items.into_iter().map(interaction_to_proto).collect(),
            page: Some(page),
        }))
    }
}

fn interaction_to_proto(interaction: Interaction) -> pb::Interaction {
    pb::Interaction {
        interaction_id: interaction.interaction_id,
        customer_id: interaction.customer_id,
        channel: interaction.channel,
        r#type: interaction.kind,
        direction: interaction.direction,
        occurred_at: Some(timestamp_from_micros(interaction.occurred_at_micros)),
        thread_id: interaction.thread_id,
        topic: interaction.topic,
        summary: interaction.summary,
    }
}
