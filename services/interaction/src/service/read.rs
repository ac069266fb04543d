//! Reading what is stored: a customer's timeline and threads, one thread, the
//! preferences, the export of everything, and the channel report.

use std::time::Duration;

use idic_runtime::refs::CustomerSelector;
use idic_runtime::{ApiError, ApiResult};

use super::Interactions;
use crate::domain::{
    ChannelSummary, CustomerItems, Interaction, Preferences, ReportQuery, Thread, ThreadView,
    ThreadsQuery, TimelineQuery, current_consents, latest_preferences,
};
use crate::store::CustomerExport;

/// Steps GetThread returns at most.
const MAX_THREAD_STEPS: i64 = 1000;
const MICROS_PER_DAY: i64 = 86_400 * 1_000_000;

impl Interactions {
    /// ListTimeline: the customer's contacts, newest first, one more than the page
    /// when another page follows.
    pub async fn timeline(
        &self,
        query: &TimelineQuery,
        budget: Duration,
    ) -> ApiResult<CustomerItems<Interaction>> {
        let customer_id = self.peers.resolve_customer(&query.selector, budget).await?;
        let items = self
            .store
            .timeline(
                &customer_id,
                &query.filter,
                query.cursor.as_ref(),
                query.page.fetch_limit(),
            )
            .await
            .map_err(ApiError::internal)?;
        Ok(CustomerItems { customer_id, items })
    }

    /// ListThreads: the customer's threads with their last step, most recently active
    /// first, one more than the page when another page follows.
    pub async fn threads(
        &self,
        query: &ThreadsQuery,
        budget: Duration,
    ) -> ApiResult<CustomerItems<(Thread, Option<Interaction>)>> {
        let customer_id = self.peers.resolve_customer(&query.selector, budget).await?;
        let items = self
            .store
            .threads(
                &customer_id,
                query.status,
                query.cursor.as_ref(),
                query.page.fetch_limit(),
            )
            .await
            .map_err(ApiError::internal)?;
        Ok(CustomerItems { customer_id, items })
    }

    /// GetThread: a thread and its first steps.
    pub async fn thread(&self, thread_id: &str) -> ApiResult<ThreadView> {
        let thread = self
            .store
            .thread(thread_id)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::not_found("no such thread"))?;
        let steps = self
            .store
            .thread_steps(thread_id, MAX_THREAD_STEPS)
            .await
            .map_err(ApiError::internal)?;
        let last_step = steps
            .iter()
            .find(|step| step.interaction_id == thread.last_interaction_id)
            .cloned();
        Ok(ThreadView {
            thread,
            last_step,
            steps,
        })
    }

    /// GetPreferences: the latest value per key and the current consents.
    pub async fn preferences(
        &self,
        selector: &CustomerSelector,
        budget: Duration,
    ) -> ApiResult<Preferences> {
        let customer_id = self.peers.resolve_customer(selector, budget).await?;
        let (preferences, consents) = tokio::try_join!(
            self.store.preferences(&customer_id),
            self.store.consents(&customer_id)
        )
        .map_err(ApiError::internal)?;
        Ok(Preferences {
            customer_id,
            preferences: latest_preferences(preferences),
            consents: current_consents(consents),
        })
    }

    /// ExportCustomerData: everything stored about the customer.
    pub async fn export(
        &self,
        selector: &CustomerSelector,
        budget: Duration,
    ) -> ApiResult<(String, CustomerExport)> {
        let customer_id = self.peers.resolve_customer(selector, budget).await?;
        let export = self
            .store
            .export(&customer_id)
            .await
            .map_err(ApiError::internal)?;
        Ok((customer_id, export))
    }

    /// GetChannelReport: the figures of the period's contacts.
    pub async fn channel_report(&self, query: ReportQuery) -> ApiResult<ChannelSummary> {
        let figures = self
            .store
            .channel_report(
                query.start_micros,
                query.end_micros,
                i64::from(query.window_days) * MICROS_PER_DAY,
            )
            .await
            .map_err(ApiError::internal)?;
        Ok(crate::report::summarize(figures, query.window_days))
    }
}
