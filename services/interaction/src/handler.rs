//! gRPC handlers of `idic.v1.InteractionService`: each RPC converts its request
//! (`convert::requests`, every field validated), calls one use case of the service
//! ([`Interactions`]) and converts the answer (`convert::answers`).

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt as _};
use idic_proto::v1 as pb;
use idic_proto::v1::interaction_service_server::{InteractionService, InteractionServiceServer};
use idic_runtime::ApiError;
use tonic::{Request, Response, Status};

use crate::convert::{answers, requests};
use crate::service::Interactions;
use crate::service::stream::InteractionFeed;

pub use crate::convert::requests::MAX_BATCH;

pub struct InteractionHandler {
    service: Arc<Interactions>,
}

impl InteractionHandler {
    pub fn new(service: Arc<Interactions>) -> Self {
        InteractionHandler { service }
    }
}

/// The gRPC service over `service`, taking and giving messages up to `limit` bytes.
pub fn server(
    service: Arc<Interactions>,
    limit: usize,
) -> InteractionServiceServer<InteractionHandler> {
    InteractionServiceServer::new(InteractionHandler::new(service))
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit)
}

/// What is left of the caller's deadline for a call to identity.
fn resolve_budget<T>(request: &Request<T>) -> Duration {
    idic_runtime::customers::budget(request, idic_runtime::customers::RESOLVE_BUDGET)
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::InteractionEvent, Status>> + Send>>;

/// The live feed as the wire carries it.
fn event_stream(feed: InteractionFeed) -> EventStream {
    Box::pin(feed.map(|item| {
        item.map(answers::stream_event)
            .map_err(|error| Status::unavailable(error.to_string()))
    }))
}

#[tonic::async_trait]
impl InteractionService for InteractionHandler {
    async fn record_interaction(
        &self,
        request: Request<pb::RecordInteractionRequest>,
    ) -> Result<Response<pb::RecordInteractionResponse>, Status> {
        let budget = resolve_budget(&request);
        let (draft, warnings) = requests::record(request.get_ref())?;
        let mut recorded = self
            .service
            .record(vec![draft], |_| String::new(), budget)
            .await?;
        let recorded = recorded.pop().ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!("the writer answered without an outcome"))
        })?;
        Ok(Response::new(answers::recorded(recorded, warnings)))
    }

    async fn record_interactions(
        &self,
        request: Request<pb::RecordInteractionsRequest>,
    ) -> Result<Response<pb::RecordInteractionsResponse>, Status> {
        let budget = resolve_budget(&request);
        let (drafts, warnings) = requests::record_batch(request.get_ref())?;
        let field_of = |index| format!("interactions[{index}].");
        let recorded = self.service.record(drafts, field_of, budget).await?;
        Ok(Response::new(answers::recorded_batch(recorded, warnings)))
    }

    async fn get_context(
        &self,
        request: Request<pb::GetContextRequest>,
    ) -> Result<Response<pb::GetContextResponse>, Status> {
        let budget = resolve_budget(&request);
        let query = requests::context_query(request.get_ref())?;
        let context = self.service.context(&query, budget).await?;
        Ok(Response::new(answers::context(context)))
    }

    async fn list_timeline(
        &self,
        request: Request<pb::ListTimelineRequest>,
    ) -> Result<Response<pb::ListTimelineResponse>, Status> {
        let budget = resolve_budget(&request);
        let query = requests::timeline_query(request.get_ref())?;
        let timeline = self.service.timeline(&query, budget).await?;
        Ok(Response::new(answers::timeline(&query.page, timeline)))
    }

    type StreamTimelineStream = EventStream;

    async fn stream_timeline(
        &self,
        request: Request<pb::StreamTimelineRequest>,
    ) -> Result<Response<Self::StreamTimelineStream>, Status> {
        let budget = resolve_budget(&request);
        let selector = requests::customer(request.get_ref().customer.as_ref())?;
        let feed = self.service.customer_feed(&selector, budget).await?;
        Ok(Response::new(event_stream(feed)))
    }

    type StreamInteractionsStream = EventStream;

    async fn stream_interactions(
        &self,
        request: Request<pb::StreamInteractionsRequest>,
    ) -> Result<Response<Self::StreamInteractionsStream>, Status> {
        let filter = requests::event_filter(request.get_ref())?;
        let feed = self.service.feed(filter).await?;
        Ok(Response::new(event_stream(feed)))
    }

    async fn get_thread(
        &self,
        request: Request<pb::GetThreadRequest>,
    ) -> Result<Response<pb::GetThreadResponse>, Status> {
        let thread_id = requests::thread_id(request.get_ref())?;
        let view = self.service.thread(thread_id).await?;
        Ok(Response::new(answers::thread(view)))
    }

    async fn list_threads(
        &self,
        request: Request<pb::ListThreadsRequest>,
    ) -> Result<Response<pb::ListThreadsResponse>, Status> {
        let budget = resolve_budget(&request);
        let query = requests::threads_query(request.get_ref())?;
        let threads = self.service.threads(&query, budget).await?;
        Ok(Response::new(answers::threads(&query.page, threads)))
    }

    async fn ingest_segment_events(
        &self,
        request: Request<pb::IngestSegmentEventsRequest>,
    ) -> Result<Response<pb::IngestSegmentEventsResponse>, Status> {
        let budget = resolve_budget(&request);
        let events = requests::segment_events(request.get_ref())?;
        let ingest = self.service.ingest_segment(events, budget).await?;
        Ok(Response::new(answers::segment_ingest(ingest)))
    }

    async fn record_consent(
        &self,
        request: Request<pb::RecordConsentRequest>,
    ) -> Result<Response<pb::RecordConsentResponse>, Status> {
        let budget = resolve_budget(&request);
        let decision = requests::consent_decision(request.get_ref())?;
        let recorded = self.service.record_consent(decision, budget).await?;
        Ok(Response::new(answers::consent_recorded(recorded)))
    }

    async fn check_consent(
        &self,
        request: Request<pb::CheckConsentRequest>,
    ) -> Result<Response<pb::CheckConsentResponse>, Status> {
        let budget = resolve_budget(&request);
        let query = requests::consent_query(request.get_ref())?;
        let answer = self.service.check_consent(&query, budget).await?;
        Ok(Response::new(answers::consent_answer(answer)))
    }

    async fn get_preferences(
        &self,
        request: Request<pb::GetPreferencesRequest>,
    ) -> Result<Response<pb::GetPreferencesResponse>, Status> {
        let budget = resolve_budget(&request);
        let selector = requests::customer(request.get_ref().customer.as_ref())?;
        let preferences = self.service.preferences(&selector, budget).await?;
        Ok(Response::new(answers::preferences(preferences)))
    }

    async fn export_customer_data(
        &self,
        request: Request<pb::ExportCustomerDataRequest>,
    ) -> Result<Response<pb::InteractionCustomerData>, Status> {
        let budget = resolve_budget(&request);
        let selector = requests::customer(request.get_ref().customer.as_ref())?;
        let export = self.service.export(&selector, budget).await?;
        Ok(Response::new(answers::export(export)))
    }

    async fn get_channel_report(
        &self,
        request: Request<pb::GetChannelReportRequest>,
    ) -> Result<Response<pb::GetChannelReportResponse>, Status> {
        let query = requests::report_query(request.get_ref())?;
        let summary = self.service.channel_report(query).await?;
        Ok(Response::new(answers::channel_report(summary)))
    }
}
