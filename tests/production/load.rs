//! A steady write load that counts what happened to every request, and the checks
//! after a fault: every acknowledged write is still there, and every acknowledged
//! order reached the customer's timeline through the event bus exactly once.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use idic_proto::v1 as pb;
use idic_proto::v1::IdentifierKind;
use tokio_util::sync::CancellationToken;
use tonic::Code;

use crate::cluster::Cluster;
use crate::{at, by_identifier, eur};

/// Customers the load spreads its orders over.
pub const LOAD_CUSTOMERS: usize = 8;

/// What a fault did to a load, as `docs/reliability.md` reports it.
#[derive(Debug, Default, Clone)]
pub struct Figures {
    pub attempted: u64,
    pub succeeded: u64,
    /// UNAVAILABLE or DEADLINE_EXCEEDED: the client may retry the same request.
    pub failed_retryable: u64,
    /// Of those, the calls the client's own 2 s deadline ended (no answer in time)
    /// or whose connection broke under them, rather than a status from the server.
    pub retryable_client_side: u64,
    /// Any other status, by code and message: each is a finding.
    pub failed_other: Vec<String>,
    /// Order ids the service acknowledged.
    pub acknowledged: Vec<String>,
    /// From the end of the fault to the first acknowledged write after it.
    pub recovery: Option<Duration>,
}

impl Figures {
    /// One line for the test's output and the reliability page.
    pub fn line(&self, fault: &str, lost: usize, events_lost: usize, duplicated: usize) -> String {
        format!(
            "FIGURES {fault}: attempted {}, succeeded {}, failed retryable {} ({} client-side), \
             failed otherwise {}, acknowledged lost {lost}, events lost {events_lost}, \
             events duplicated {duplicated}, recovered after {}",
            self.attempted,
            self.succeeded,
            self.failed_retryable,
            self.retryable_client_side,
            self.failed_other.len(),
            self.recovery.map_or("-".to_owned(), |took| format!(
                "{:.2} s",
                took.as_secs_f64()
            )),
        )
    }
}

/// Whether a client may retry the same request: the server said UNAVAILABLE or
/// DEADLINE_EXCEEDED, or the client library reports a failure of its own (see
/// [`is_client_side`]), which the server did not choose.
pub fn is_retryable(status: &tonic::Status) -> bool {
    matches!(status.code(), Code::Unavailable | Code::DeadlineExceeded) || is_client_side(status)
}

/// A failure the client library reports, not a status the server sent: its own
/// deadline firing (tonic: CANCELLED "Timeout expired"), the connection breaking under
/// the call (UNKNOWN "transport error"), or the call dropped because its connection
/// closed before an answer came (hyper's "operation was canceled", seen when a
/// process is SIGKILLed mid-call).
pub fn is_client_side(status: &tonic::Status) -> bool {
    match status.code() {
        Code::Cancelled => {
            status.message() == "Timeout expired" || status.message() == "operation was canceled"
        }
        Code::Unknown => status.message().starts_with("transport error"),
        _ => false,
    }
}

fn customer_of(sequence: u64) -> String {
    format!("LOAD-{}", sequence as usize % LOAD_CUSTOMERS)
}

fn load_order(order_id: &str, customer: &str) -> pb::TransactionInput {
    pb::TransactionInput {
        customer: by_identifier(IdentifierKind::LoyaltyId, customer),
        order_id: order_id.into(),
        kind: pb::TransactionKind::Purchase as i32,
        occurred_at: at(1_772_445_600),
        amount: eur(1_999),
        lines: vec![pb::OrderLine {
            product: "toner".into(),
            category: "office".into(),
            quantity: 1,
            amount: eur(1_999),
        }],
        channel: pb::Channel::Web as i32,
        ..Default::default()
    }
}

/// Makes the load's customers known, so the load itself writes orders only.
pub async fn create_load_customers(cluster: &Cluster) {
    let mut differentiation = cluster.differentiation("orders");
    let orders: Vec<pb::TransactionInput> = (0..LOAD_CUSTOMERS as u64)
        .map(|sequence| load_order(&format!("warm-{sequence}"), &customer_of(sequence)))
        .collect();
    differentiation
        .record_transactions(pb::RecordTransactionsRequest {
            transactions: orders,
            strict: false,
        })
        .await
        .expect("the load's customers are created");
}

/// Shared state of a running load.
#[derive(Clone)]
pub struct OrderLoad {
    figures: Arc<Mutex<Figures>>,
    fault_ended: Arc<Mutex<Option<Instant>>>,
    stop: CancellationToken,
    tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl OrderLoad {
    /// `writers` tasks each recording one order at a time, with a deadline of 2 s a call
    /// and a pause of `pause` between calls, until [`OrderLoad::finish`].
    pub fn start(cluster: &Cluster, name: &str, writers: u64, pause: Duration) -> OrderLoad {
        let load = OrderLoad {
            figures: Arc::default(),
            fault_ended: Arc::default(),
            stop: CancellationToken::new(),
            tasks: Arc::default(),
        };
        for writer in 0..writers {
            let client = cluster.differentiation("orders");
            let load_clone = load.clone();
            let name = name.to_owned();
            let task = tokio::spawn(async move {
                load_clone
                    .write(client, &name, writer, writers, pause)
                    .await;
            });
            load.tasks.lock().unwrap().push(task);
        }
        load
    }

    async fn write(
        &self,
        mut client: pb::differentiation_service_client::DifferentiationServiceClient<
            idic_runtime::peers::PeerChannel,
        >,
        name: &str,
        writer: u64,
        writers: u64,
        pause: Duration,
    ) {
        let mut sequence = writer;
        while !self.stop.is_cancelled() {
            let order_id = format!("{name}-{sequence}");
            // As a client should: a retryable failure is retried with the same order
            // id (idempotent) until it is acknowledged, also after the load stops.
            loop {
                let mut request = tonic::Request::new(pb::RecordTransactionsRequest {
                    transactions: vec![load_order(&order_id, &customer_of(sequence))],
                    strict: false,
                });
                request.set_timeout(Duration::from_secs(2));
                let answer = client.record_transactions(request).await;
                if self.count(answer, &order_id) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            sequence += writers;
            tokio::time::sleep(pause).await;
        }
    }

    /// Counts one attempt; true when it is settled (acknowledged, or failed in a way
    /// a retry would not change).
    fn count(
        &self,
        answer: Result<tonic::Response<pb::RecordTransactionsResponse>, tonic::Status>,
        order_id: &str,
    ) -> bool {
        let now = Instant::now();
        let mut figures = self.figures.lock().unwrap();
        figures.attempted += 1;
        match answer {
            Ok(_) => {
                figures.succeeded += 1;
                figures.acknowledged.push(order_id.to_owned());
                let ended = *self.fault_ended.lock().unwrap();
                if let Some(ended) = ended
                    && figures.recovery.is_none()
                {
                    figures.recovery = Some(now.saturating_duration_since(ended));
                }
                true
            }
            Err(status) if is_retryable(&status) => {
                figures.failed_retryable += 1;
                if is_client_side(&status) {
                    figures.retryable_client_side += 1;
                }
                false
            }
            Err(status) => {
                figures
                    .failed_other
                    .push(format!("{:?}: {}", status.code(), status.message()));
                true
            }
        }
    }

    /// Marks the end of the fault: recovery is timed from here.
    pub fn fault_ended(&self) {
        *self.fault_ended.lock().unwrap() = Some(Instant::now());
    }

    /// Stops the writers and returns the figures.
    pub async fn finish(self) -> Figures {
        self.stop.cancel();
        let tasks: Vec<_> = std::mem::take(&mut *self.tasks.lock().unwrap());
        for task in tasks {
            let _ = task.await;
        }
        self.figures.lock().unwrap().clone()
    }
}

/// Acknowledged orders missing from differentiation; orders differentiation stored
/// that never reached the timeline (an event lost); orders stored or on the timeline
/// more than once (applied twice). Waits up to `settle` for the bus to deliver.
pub async fn check_orders(
    cluster: &Cluster,
    acknowledged: &[String],
    settle: Duration,
) -> (usize, usize, usize) {
    let deadline = Instant::now() + settle;
    loop {
        let (stored, on_timeline) = stored_orders(cluster).await;
        let lost = acknowledged
            .iter()
            .filter(|order| !stored.contains_key(*order))
            .count();
        let events_lost = stored
            .keys()
            .filter(|order| !order.starts_with("warm-") && !on_timeline.contains_key(*order))
            .count();
        let duplicated = on_timeline
            .values()
            .chain(stored.values())
            .filter(|count| **count > 1)
            .count();
        if (lost == 0 && events_lost == 0) || Instant::now() > deadline {
            return (lost, events_lost, duplicated);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Order ids differentiation holds, and how often each is on interaction's timeline.
async fn stored_orders(cluster: &Cluster) -> (BTreeMap<String, u32>, BTreeMap<String, u32>) {
    let mut stored = BTreeMap::new();
    let mut on_timeline = BTreeMap::new();
    let mut differentiation = cluster.differentiation("dpo");
    let mut interaction = cluster.interaction("dpo");
    for customer in 0..LOAD_CUSTOMERS as u64 {
        let reference = by_identifier(IdentifierKind::LoyaltyId, &customer_of(customer));
        if let Ok(part) = differentiation
            .export_customer_data(pb::ExportCustomerDataRequest {
                customer: reference.clone(),
            })
            .await
        {
            for exported in part.into_inner().transactions {
                if let Some(transaction) = exported.transaction {
                    *stored.entry(transaction.order_id).or_insert(0) += 1;
                }
            }
        }
        if let Ok(part) = interaction
            .export_customer_data(pb::ExportCustomerDataRequest {
                customer: reference,
            })
            .await
        {
            for step in part.into_inner().interactions {
                if let Some(order) = step.idempotency_key.strip_prefix("order:") {
                    *on_timeline.entry(order.to_owned()).or_insert(0) += 1;
                }
            }
        }
    }
    (stored, on_timeline)
}
