//! What each page asks of the services. Every part of a page is fetched on its own and
//! may fail on its own (a key without the scope, a service that is down): the page then
//! shows that part's error and the rest.

use idic_proto::v1 as pb;
use idic_runtime::config::Secret;
use idic_runtime::peers::Peers;
use tonic::{Code, Status};

use super::state::ConsoleState;
use crate::cli::args::{is_date, parse_customer_ref};

/// Recent contacts shown on the customer page.
const TIMELINE_ROWS: u32 = 25;
/// Offerings shown on the customer page, newest first.
const OFFERINGS_SHOWN: usize = 5;
/// Candidates a search lists at most.
const MAX_CANDIDATES: u32 = 20;

/// The services, called with one user's key.
pub struct Calls<'a> {
    pub peers: &'a Peers,
    pub key: Option<&'a Secret>,
}

impl Calls<'_> {
    fn request<T>(&self, message: T) -> Result<tonic::Request<T>, Status> {
        ConsoleState::request(self.key, message)
    }
}

fn customer_ref(customer_id: &str) -> Option<pb::CustomerRef> {
    Some(pb::CustomerRef {
        r#ref: Some(pb::customer_ref::Ref::CustomerId(customer_id.to_owned())),
    })
}

/// What a search found.
pub enum SearchOutcome {
    /// Exactly one customer: show it.
    Customer(String),
    /// Several, or a fuzzy match: let the user choose.
    Candidates(Vec<pb::Candidate>),
    NotFound,
    /// The text is not a reference the suite can read; says why.
    Unreadable(String),
}

/// Finds the customers meant by `query`: a customer id, an identifier in the command
/// line's reference syntax (`email:…`, `phone:…`, `loyalty:…`, `SYSTEM:ID`, a bare
/// e-mail or phone number), or else a name.
pub async fn search(calls: &Calls<'_>, query: &str) -> Result<SearchOutcome, Status> {
    let query = query.trim();
    if query.is_empty() {
        return Ok(SearchOutcome::Unreadable(
            "type an identifier or a name".into(),
        ));
    }
    let reference = match parse_customer_ref(query) {
        Ok(reference) => reference,
        Err(error) => return Ok(SearchOutcome::Unreadable(format!("{error:#}"))),
    };
    match reference.r#ref {
        Some(pb::customer_ref::Ref::Identifier(identifier)) => {
            search_identifier(calls, identifier).await
        }
        Some(pb::customer_ref::Ref::CustomerId(text)) if !text.contains(char::is_whitespace) => {
            match lookup(calls, &text).await {
                Ok(customer_id) => Ok(SearchOutcome::Customer(customer_id)),
                Err(status) if status.code() == Code::NotFound => search_name(calls, &text).await,
                Err(status) => Err(status),
            }
        }
        _ => search_name(calls, query).await,
    }
}

async fn lookup(calls: &Calls<'_>, customer_id: &str) -> Result<String, Status> {
    let mut client = calls.peers.identity();
    let request = calls.request(pb::LookupCustomerIdRequest {
        customer: customer_ref(customer_id),
    })?;
    Ok(client
        .lookup_customer_id(request)
        .await?
        .into_inner()
        .customer_id)
}

async fn search_identifier(
    calls: &Calls<'_>,
    identifier: pb::Identifier,
) -> Result<SearchOutcome, Status> {
    let candidates = resolve(calls, pb::resolve_request::Query::Identifier(identifier)).await?;
    Ok(match candidates.as_slice() {
        [] => SearchOutcome::NotFound,
        [only] => SearchOutcome::Customer(only.customer_id.clone()),
        _ => SearchOutcome::Candidates(candidates),
    })
}

/// A fuzzy search: a name with a birth date or a postcode ("Ann Smith 1984-03-12",
/// "Ann Smith 75011"), since identity files people under a name together with one of
/// them. Always a list: a name rarely settles who it is.
async fn search_name(calls: &Calls<'_>, text: &str) -> Result<SearchOutcome, Status> {
    let Some(partial) = partial_record(text) else {
        return Ok(SearchOutcome::Unreadable(
            "a name needs a birth date (YYYY-MM-DD) or a postcode after it, e.g. 'Ann Smith 1984-03-12'".into(),
        ));
    };
    let candidates = resolve(calls, pb::resolve_request::Query::Partial(partial)).await?;
    Ok(if candidates.is_empty() {
        SearchOutcome::NotFound
    } else {
        SearchOutcome::Candidates(candidates)
    })
}

/// "Given [Middle] Family DATE-OR-POSTCODE" as a partial record; `None` without a name
/// or without the date or postcode.
fn partial_record(text: &str) -> Option<pb::SourceRecord> {
    let mut words: Vec<&str> = text.split_whitespace().collect();
    let last = words.pop()?;
    let family = words.pop()?;
    let given = words.join(" ");
    let mut partial = pb::SourceRecord {
        name: Some(pb::PersonName {
            given,
            family: family.to_owned(),
            ..Default::default()
        }),
        ..Default::default()
    };
    if is_date(last) {
        partial.date_of_birth = last.to_owned();
    } else if last.chars().any(|c| c.is_ascii_digit()) {
        partial.addresses = vec![pb::PostalAddress {
            postcode: last.to_owned(),
            ..Default::default()
        }];
    } else {
        return None;
    }
    Some(partial)
}

async fn resolve(
    calls: &Calls<'_>,
    query: pb::resolve_request::Query,
) -> Result<Vec<pb::Candidate>, Status> {
    let mut client = calls.peers.identity();
    let request = calls.request(pb::ResolveRequest {
        query: Some(query),
        max_candidates: MAX_CANDIDATES,
    })?;
    Ok(client.resolve(request).await?.into_inner().candidates)
}

/// Everything the customer page shows, each part as its service answered.
pub struct CustomerView {
    pub customer: Result<pb::Customer, Status>,
    pub history: Result<Vec<pb::ChangeEvent>, Status>,
    pub value: Result<pb::CustomerValue, Status>,
    pub needs: Result<pb::CustomerNeeds, Status>,
    pub timeline: Result<Vec<pb::Interaction>, Status>,
    /// Newest first.
    pub offerings: Result<Vec<pb::StoredOffering>, Status>,
}

/// The 360 view of one customer, its parts asked for at once.
pub async fn customer_view(calls: &Calls<'_>, customer_id: &str) -> CustomerView {
    let (customer, history, value, needs, timeline, offerings) = tokio::join!(
        golden(calls, customer_id),
        history(calls, customer_id),
        value(calls, customer_id),
        needs(calls, customer_id),
        timeline(calls, customer_id),
        offerings(calls, customer_id),
    );
    CustomerView {
        customer,
        history,
        value,
        needs,
        timeline,
        offerings,
    }
}

async fn golden(calls: &Calls<'_>, customer_id: &str) -> Result<pb::Customer, Status> {
    let mut client = calls.peers.identity();
    let request = calls.request(pb::GetCustomerRequest {
        customer: customer_ref(customer_id),
    })?;
    client
        .get_customer(request)
        .await?
        .into_inner()
        .customer
        .ok_or_else(|| Status::internal("identity answered without a customer"))
}

async fn history(calls: &Calls<'_>, customer_id: &str) -> Result<Vec<pb::ChangeEvent>, Status> {
    let mut client = calls.peers.identity();
    let request = calls.request(pb::GetMergeHistoryRequest {
        customer: customer_ref(customer_id),
        page: None,
    })?;
    Ok(client.get_merge_history(request).await?.into_inner().events)
}

async fn value(calls: &Calls<'_>, customer_id: &str) -> Result<pb::CustomerValue, Status> {
    let mut client = calls.peers.differentiation();
    let request = calls.request(pb::GetCustomerValueRequest {
        customer: customer_ref(customer_id),
    })?;
    client
        .get_customer_value(request)
        .await?
        .into_inner()
        .value
        .ok_or_else(|| Status::internal("differentiation answered without a value"))
}

async fn needs(calls: &Calls<'_>, customer_id: &str) -> Result<pb::CustomerNeeds, Status> {
    let mut client = calls.peers.differentiation();
    let request = calls.request(pb::GetCustomerNeedsRequest {
        customer: customer_ref(customer_id),
    })?;
    client
        .get_customer_needs(request)
        .await?
        .into_inner()
        .needs
        .ok_or_else(|| Status::internal("differentiation answered without needs"))
}

async fn timeline(calls: &Calls<'_>, customer_id: &str) -> Result<Vec<pb::Interaction>, Status> {
    let mut client = calls.peers.interaction();
    let request = calls.request(pb::ListTimelineRequest {
        customer: customer_ref(customer_id),
        page: Some(pb::PageRequest {
            page_size: TIMELINE_ROWS,
            page_token: String::new(),
        }),
        ..Default::default()
    })?;
    Ok(client
        .list_timeline(request)
        .await?
        .into_inner()
        .interactions)
}

/// The last offerings with their reasons: only customization's export holds them per
/// customer, and it needs the `admin` scope.
async fn offerings(
    calls: &Calls<'_>,
    customer_id: &str,
) -> Result<Vec<pb::StoredOffering>, Status> {
    let mut client = calls.peers.customization();
    let request = calls.request(pb::ExportCustomerDataRequest {
        customer: customer_ref(customer_id),
    })?;
    let mut offerings = client
        .export_customer_data(request)
        .await?
        .into_inner()
        .offerings;
    offerings.reverse();
    offerings.truncate(OFFERINGS_SHOWN);
    Ok(offerings)
}

/// The value page: the skew of the base and the strategy it calls for.
pub async fn value_overview(
    calls: &Calls<'_>,
) -> (
    Result<pb::GetValueSkewResponse, Status>,
    Result<pb::GetStrategyResponse, Status>,
) {
    tokio::join!(value_skew(calls), strategy(calls))
}

async fn value_skew(calls: &Calls<'_>) -> Result<pb::GetValueSkewResponse, Status> {
    let mut client = calls.peers.differentiation();
    let request = calls.request(pb::GetValueSkewRequest {})?;
    Ok(client.get_value_skew(request).await?.into_inner())
}

async fn strategy(calls: &Calls<'_>) -> Result<pb::GetStrategyResponse, Status> {
    let mut client = calls.peers.differentiation();
    let request = calls.request(pb::GetStrategyRequest {})?;
    Ok(client.get_strategy(request).await?.into_inner())
}

/// How far back the channel report looks.
pub const CHANNEL_REPORT_DAYS: u64 = 365;

/// The channel report over the last [`CHANNEL_REPORT_DAYS`] days.
pub async fn channel_report(calls: &Calls<'_>) -> Result<pb::GetChannelReportResponse, Status> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| Status::internal("the clock is before 1970"))?
        .as_secs();
    let seconds = |value: u64| prost_types::Timestamp {
        seconds: i64::try_from(value).unwrap_or(i64::MAX),
        nanos: 0,
    };
    let mut client = calls.peers.interaction();
    let request = calls.request(pb::GetChannelReportRequest {
        period: Some(pb::TimeRange {
            start: Some(seconds(now.saturating_sub(CHANNEL_REPORT_DAYS * 86_400))),
            // A minute ahead, so that a contact recorded just now is in.
            end: Some(seconds(now + 60)),
        }),
        repeat_window_days: 0,
    })?;
    Ok(client.get_channel_report(request).await?.into_inner())
}

/// The learning curve's period: a week, so that a few weeks of outcomes make a curve.
pub const LEARNING_PERIOD_DAYS: u32 = 7;

pub async fn learning_report(calls: &Calls<'_>) -> Result<pb::LearningReport, Status> {
    let mut client = calls.peers.customization();
    let request = calls.request(pb::GetLearningReportRequest {
        period_seconds: LEARNING_PERIOD_DAYS * 86_400,
    })?;
    Ok(client.get_learning_report(request).await?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_search_needs_a_birth_date_or_a_postcode() {
        let partial = partial_record("Jane Doe 1984-03-12").unwrap();
        assert_eq!(partial.date_of_birth, "1984-03-12");
        let name = partial.name.unwrap();
        assert_eq!((name.given.as_str(), name.family.as_str()), ("Jane", "Doe"));
        let partial = partial_record("Ann Marie Lee 75011").unwrap();
        assert_eq!(partial.addresses[0].postcode, "75011");
        assert_eq!(partial.name.unwrap().given, "Ann Marie");
        assert!(partial_record("Jane Doe").is_none());
        assert!(partial_record("1984-03-12").is_none());
    }
}
