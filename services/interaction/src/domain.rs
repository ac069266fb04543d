//! Interaction's domain: contacts, threads, consent and the rules between them. No SQL
//! and no protobuf here; enum fields hold the wire numbers of the contract's enums.

use idic_runtime::paging::Page;
use idic_runtime::refs::CustomerSelector;

/// Wire numbers of `idic.v1.ThreadStatus`.
pub mod thread_status {
    pub const UNSPECIFIED: i32 = 0;
    pub const OPEN: i32 = 1;
    pub const WAITING: i32 = 2;
    pub const RESOLVED: i32 = 3;
}

/// Wire numbers of `idic.v1.ConsentStatus`.
pub mod consent_status {
    pub const UNSPECIFIED: i32 = 0;
    pub const GRANTED: i32 = 1;
}

/// Wire numbers of `idic.v1.InteractionType` (a test in `convert` checks them against
/// the contract).
pub mod kind {
    pub const CHAT: i32 = 2;
    pub const WEB_VISIT: i32 = 4;
    pub const PURCHASE: i32 = 6;
    pub const INQUIRY: i32 = 7;
    pub const COMPLAINT: i32 = 8;
    pub const SURVEY_RESPONSE: i32 = 9;
    pub const OFFER_PRESENTED: i32 = 10;
    pub const OFFER_ACCEPTED: i32 = 11;
    pub const OFFER_REJECTED: i32 = 12;

    /// The contract's names, in wire-number order.
    const NAMES: [&str; 13] = [
        "unspecified",
        "call",
        "chat",
        "email",
        "web visit",
        "store visit",
        "purchase",
        "inquiry",
        "complaint",
        "survey response",
        "offer presented",
        "offer accepted",
        "offer rejected",
    ];

    /// "complaint", "web visit": the readable name of a type; "contact" for a number
    /// the contract does not know.
    pub fn name(number: i32) -> String {
        usize::try_from(number)
            .ok()
            .and_then(|index| NAMES.get(index))
            .map_or_else(|| "contact".to_owned(), |name| (*name).to_owned())
    }
}

/// Wire numbers of the `idic.v1.Channel` values the rules look at.
pub mod channel {
    pub const WEB: i32 = 2;
    pub const MOBILE_APP: i32 = 5;
}

/// Wire numbers of `idic.v1.Direction`.
pub mod direction {
    pub const INBOUND: i32 = 1;
    pub const OUTBOUND: i32 = 2;
}

/// The longest topic kept, in bytes.
pub const MAX_TOPIC_BYTES: usize = 200;
/// The longest summary kept, in bytes.
pub const MAX_SUMMARY_BYTES: usize = 4000;

/// A fresh id with a readable prefix, time-ordered (UUID v7).
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

/// Wire number of `SENTIMENT_NEGATIVE`.
pub const SENTIMENT_NEGATIVE: i32 = 1;

/// An amount in a currency's minor unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cost {
    pub currency: String,
    pub minor_units: i64,
}

/// One contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interaction {
    pub interaction_id: String,
    pub idempotency_key: String,
    pub customer_id: String,
    /// The reference the caller used (`CustomerSelector::anchor`).
    pub anchor: String,
    pub channel: i32,
    pub kind: i32,
    pub direction: i32,
    pub occurred_at_micros: i64,
    pub recorded_at_micros: i64,
    pub thread_id: String,
    /// The thread's status after this step; 0 when the contact has no thread.
    pub thread_status: i32,
    pub topic: String,
    pub summary: String,
    pub needs: Vec<(String, String)>,
    pub outcome: String,
    pub sentiment: i32,
    pub agent: String,
    pub cost: Option<Cost>,
    pub automated: bool,
}

/// Whether a contact was handled without a human: flagged so by the caller, or made
/// through a self-service channel with no agent named.
pub fn is_automated(flagged: bool, channel_number: i32, agent: &str) -> bool {
    flagged
        || (agent.is_empty()
            && (channel_number == channel::WEB || channel_number == channel::MOBILE_APP))
}

/// What a new contact asks of threads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThreadRequest {
    None,
    /// Continue (or start, when unknown) the thread with this id.
    Continue(String),
    /// Start a thread with this freshly issued id.
    Open(String),
}

/// A contact waiting to be stored: the interaction, what it does to threads and the
/// status it asks for (0: none).
#[derive(Debug, Clone)]
pub struct NewInteraction {
    pub interaction: Interaction,
    pub thread: ThreadRequest,
    pub requested_status: i32,
}

/// A validated RecordInteraction: the customer still to resolve, and the interaction
/// with everything but its customer.
#[derive(Debug, Clone)]
pub struct Draft {
    pub selector: CustomerSelector,
    pub item: NewInteraction,
}

impl Draft {
    /// The interaction for `customer_id`, reached through `anchor`.
    pub fn for_customer(mut self, customer_id: String, anchor: String) -> NewInteraction {
        self.item.interaction.customer_id = customer_id;
        self.item.interaction.anchor = anchor;
        self.item
    }
}

/// A conversation that may span contacts and channels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thread {
    pub thread_id: String,
    pub customer_id: String,
    pub anchor: String,
    pub topic: String,
    pub status: i32,
    pub opened_by: i32,
    pub opened_channel: i32,
    pub opened_at_micros: i64,
    pub last_activity_at_micros: i64,
    /// 0 while not resolved.
    pub resolved_at_micros: i64,
    pub step_count: i64,
    pub last_interaction_id: String,
}

impl Thread {
    /// A thread started by `step`, with `requested_status` or OPEN.
    pub fn open(thread_id: &str, step: &Interaction, requested_status: i32) -> Thread {
        let status = if requested_status == thread_status::UNSPECIFIED {
            thread_status::OPEN
        } else {
            requested_status
        };
        Thread {
            thread_id: thread_id.to_owned(),
            customer_id: step.customer_id.clone(),
            anchor: step.anchor.clone(),
            topic: step.topic.clone(),
            status,
            opened_by: step.kind,
            opened_channel: step.channel,
            opened_at_micros: step.occurred_at_micros,
            last_activity_at_micros: step.occurred_at_micros,
            resolved_at_micros: if status == thread_status::RESOLVED {
                step.occurred_at_micros
            } else {
                0
            },
            step_count: 1,
            last_interaction_id: step.interaction_id.clone(),
        }
    }

    /// Adds `step`. An explicit status wins; without one, a step at or after the
    /// resolution reopens a resolved thread, and any other keeps the status.
    pub fn advance(&mut self, step: &Interaction, requested_status: i32) {
        let status = if requested_status != thread_status::UNSPECIFIED {
            requested_status
        } else if self.status == thread_status::RESOLVED
            && step.occurred_at_micros >= self.resolved_at_micros
        {
            thread_status::OPEN
        } else {
            self.status
        };
        if status == thread_status::RESOLVED && self.status != thread_status::RESOLVED {
            self.resolved_at_micros = step.occurred_at_micros;
        } else if status != thread_status::RESOLVED {
            self.resolved_at_micros = 0;
        }
        self.status = status;
        self.step_count += 1;
        if step.occurred_at_micros >= self.last_activity_at_micros {
            self.last_activity_at_micros = step.occurred_at_micros;
            self.last_interaction_id = step.interaction_id.clone();
        }
        if step.occurred_at_micros < self.opened_at_micros {
            self.opened_at_micros = step.occurred_at_micros;
        }
        if self.topic.is_empty() {
            self.topic = step.topic.clone();
        }
    }

    pub fn is_active(&self) -> bool {
        self.status == thread_status::OPEN || self.status == thread_status::WAITING
    }
}

/// A consent decision as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    pub consent_id: String,
    pub idempotency_key: String,
    pub customer_id: String,
    pub anchor: String,
    pub channel: i32,
    pub purpose: String,
    pub status: i32,
    pub decided_at_micros: i64,
    pub source: String,
    pub recorded_at_micros: i64,
}

/// The current decision per channel and purpose: the latest decided, ties broken by
/// the latest recorded. Sorted by channel, then purpose.
pub fn current_consents(mut decisions: Vec<Consent>) -> Vec<Consent> {
    decisions.sort_by(|a, b| {
        (a.channel, &a.purpose)
            .cmp(&(b.channel, &b.purpose))
            .then(b.decided_at_micros.cmp(&a.decided_at_micros))
            .then(b.recorded_at_micros.cmp(&a.recorded_at_micros))
    });
    decisions
        .dedup_by(|later, first| later.channel == first.channel && later.purpose == first.purpose);
    decisions
}

/// The answer to "may we contact them on this channel for this purpose?": only an
/// explicit, current GRANTED allows (opt-in).
pub fn consent_allows(current: Option<&Consent>) -> bool {
    current.is_some_and(|consent| consent.status == consent_status::GRANTED)
}

/// A need or preference expressed in a contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preference {
    pub key: String,
    pub value: String,
    pub channel: i32,
    pub expressed_at_micros: i64,
    pub interaction_id: String,
}

/// The latest value per key, newest first. `expressions` may hold several per key.
pub fn latest_preferences(mut expressions: Vec<Preference>) -> Vec<Preference> {
    expressions.sort_by(|a, b| {
        b.expressed_at_micros
            .cmp(&a.expressed_at_micros)
            .then(b.interaction_id.cmp(&a.interaction_id))
    });
    let mut seen = std::collections::HashSet::new();
    expressions.retain(|preference| seen.insert(preference.key.clone()));
    expressions
}

/// What the agent should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextStep {
    pub action: &'static str,
    pub text: String,
    pub thread_id: String,
}

/// How long after a negative contact a follow-up is still suggested.
const FOLLOW_UP_WINDOW_MICROS: i64 = 30 * 86_400 * 1_000_000;
/// Silence after which a customer is worth winning back.
const WIN_BACK_AFTER_MICROS: i64 = 180 * 86_400 * 1_000_000;

/// The suggested next step, from the most pressing matter down: an open thread
/// (complaints first), a thread waiting, a recent negative contact, a long silence or a
/// lost-customer survey, a first contact.
pub fn suggest_next_step(
    active_threads: &[Thread],
    recent: &[Interaction],
    now_micros: i64,
    type_name: impl Fn(i32) -> String,
) -> NextStep {
    let open = active_threads
        .iter()
        .filter(|thread| thread.status == thread_status::OPEN);
    let pressing = open
        .clone()
        .find(|thread| thread.opened_by == kind::COMPLAINT)
        .or_else(|| open.clone().next());
    if let Some(thread) = pressing {
        return NextStep {
            action: "resume_thread",
            text: format!(
                "resume open {} {} about {}",
                type_name(thread.opened_by),
                thread.thread_id,
                topic_or_unknown(&thread.topic)
            ),
            thread_id: thread.thread_id.clone(),
        };
    }
    if let Some(thread) = active_threads.first() {
        return NextStep {
            action: "check_in_waiting_thread",
            text: format!(
                "check in on {} {} about {}, waiting for an answer",
                type_name(thread.opened_by),
                thread.thread_id,
                topic_or_unknown(&thread.topic)
            ),
            thread_id: thread.thread_id.clone(),
        };
    }
    let Some(last) = recent.first() else {
        return NextStep {
            action: "welcome",
            text: "first recorded contact: welcome the customer and ask what they need".to_owned(),
            thread_id: String::new(),
        };
    };
    if last.sentiment == SENTIMENT_NEGATIVE
        && now_micros - last.occurred_at_micros <= FOLLOW_UP_WINDOW_MICROS
    {
        return NextStep {
            action: "follow_up_negative_contact",
            text: format!(
                "follow up on the last contact about {}: the customer was unhappy",
                topic_or_unknown(&last.topic)
            ),
            thread_id: last.thread_id.clone(),
        };
    }
    let lost_survey = recent.iter().any(|interaction| {
        interaction.kind == kind::SURVEY_RESPONSE
            && interaction.topic.to_lowercase().contains("lost")
    });
    if lost_survey || now_micros - last.occurred_at_micros >= WIN_BACK_AFTER_MICROS {
        return NextStep {
            action: "win_back",
            text: "the customer has gone quiet or said why they left: make a win-back offer"
                .to_owned(),
            thread_id: String::new(),
        };
    }
    NextStep {
        action: "none",
        text: format!(
            "nothing open; last contact was a {} about {}",
            type_name(last.kind),
            topic_or_unknown(&last.topic)
        ),
        thread_id: String::new(),
    }
}

fn topic_or_unknown(topic: &str) -> &str {
    if topic.is_empty() {
        "an unrecorded topic"
    } else {
        topic
    }
}

/// Where a timeline page continues: after the item with this time and id, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineCursor {
    pub occurred_at_micros: i64,
    pub interaction_id: String,
}

impl TimelineCursor {
    pub fn of(interaction: &Interaction) -> Self {
        TimelineCursor {
            occurred_at_micros: interaction.occurred_at_micros,
            interaction_id: interaction.interaction_id.clone(),
        }
    }

    pub fn encode(&self) -> String {
        format!("{}|{}", self.occurred_at_micros, self.interaction_id)
    }

    pub fn decode(text: &str) -> Option<Self> {
        let (micros, id) = text.split_once('|')?;
        Some(TimelineCursor {
            occurred_at_micros: micros.parse().ok()?,
            interaction_id: id.to_owned(),
        })
    }
}

/// Which interactions a timeline shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimelineFilter {
    pub channels: Vec<i32>,
    pub kinds: Vec<i32>,
    /// Half-open [start, end).
    pub start_micros: Option<i64>,
    pub end_micros: Option<i64>,
    pub thread_id: Option<String>,
}

/// Interaction kinds (wire numbers of `InteractionType`) that are records of what
/// happened rather than the customer and the company getting in touch: PURCHASE
/// (mirrored from differentiation's orders) and OFFER_PRESENTED / _ACCEPTED /
/// _REJECTED (what customization proposed, within some other contact). The channel
/// report counts none of them as a contact, in any of its figures.
pub const NOT_CONTACT_KINDS: [i32; 4] = [6, 10, 11, 12];

/// The SQL condition that keeps contacts only (see [`NOT_CONTACT_KINDS`]).
pub fn contacts_only_sql() -> String {
    let kinds: Vec<String> = NOT_CONTACT_KINDS.iter().map(i32::to_string).collect();
    format!("kind NOT IN ({})", kinds.join(", "))
}

/// The channel report's figures as the store aggregates them; every figure counts
/// contacts only (see [`NOT_CONTACT_KINDS`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChannelReport {
    /// Per channel and currency ("" when no cost): contacts, automated, cost.
    pub rows: Vec<ChannelRow>,
    pub topic_contacts: i64,
    pub repeat_contacts: i64,
    /// Purchases and offer events in the period, left out of every figure.
    pub not_contacts: i64,
    pub threads_resolved: i64,
    pub resolution_micros_total: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelRow {
    pub channel: i32,
    pub currency: String,
    pub contacts: i64,
    pub automated: i64,
    pub cost_minor_units: i64,
}

/// Needs as stored: one "key=value" line each, with '%', '=' and newlines escaped.
pub fn encode_needs(needs: &[(String, String)]) -> String {
    needs
        .iter()
        .map(|(key, value)| format!("{}={}", escape(key), escape(value)))
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn decode_needs(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let (key, value) = line.split_once('=')?;
            Some((unescape(key), unescape(value)))
        })
        .collect()
}

fn escape(text: &str) -> String {
    text.replace('%', "%25")
        .replace('=', "%3D")
        .replace('\n', "%0A")
        .replace('\r', "%0D")
}

fn unescape(text: &str) -> String {
    text.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%3D", "=")
        .replace("%25", "%")
}

// What the use cases are asked and what they answer (the handler converts both).

/// GetContext: whose context, and how many recent contacts it shows.
#[derive(Debug, Clone)]
pub struct ContextQuery {
    pub selector: CustomerSelector,
    pub recent_limit: i64,
}

/// Who the customer is, as identity's golden record summarizes it for an agent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CustomerSummary {
    pub display_name: String,
    pub organization_name: String,
    pub email: String,
    pub phone: String,
    pub locality: String,
    pub country: String,
    pub source_records: u32,
    pub aliases: Vec<String>,
    pub customer_since_micros: Option<i64>,
}

/// What the customer is worth, as differentiation values it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ValueSummary {
    /// "A" to "D"; empty when differentiation gave no tier.
    pub tier: String,
    pub rank_percentile: f64,
    pub predicted_clv: f64,
    pub currency: String,
    pub probability_alive: f64,
    pub order_count: u64,
    pub last_purchase_at_micros: Option<i64>,
    pub revenue: Vec<Cost>,
}

/// The agent's screen: the peers' parts (None when unknown, failed or withheld, the
/// last two named in `degraded` and `withheld`) and what this service stores.
#[derive(Debug, Clone)]
pub struct CustomerContext {
    pub customer_id: String,
    pub customer: Option<CustomerSummary>,
    pub value: Option<ValueSummary>,
    pub recent: Vec<Interaction>,
    /// OPEN and WAITING threads with their last step.
    pub open_threads: Vec<(Thread, Option<Interaction>)>,
    /// The latest value per key.
    pub preferences: Vec<Preference>,
    /// The current decision per channel and purpose.
    pub consents: Vec<Consent>,
    pub next_step: NextStep,
    /// The peers that failed or were late.
    pub degraded: Vec<String>,
    /// The scopes the caller's key lacks for a peer's part.
    pub withheld: Vec<String>,
    pub interaction_count: i64,
    /// (group id, name) of the organizations the person is linked to.
    pub organizations: Vec<(String, String)>,
}

/// ListTimeline: whose, which contacts, and from where.
#[derive(Debug, Clone)]
pub struct TimelineQuery {
    pub selector: CustomerSelector,
    pub filter: TimelineFilter,
    pub cursor: Option<TimelineCursor>,
    pub page: Page,
}

/// ListThreads: whose, which status (0: all), and from where (activity time, id).
#[derive(Debug, Clone)]
pub struct ThreadsQuery {
    pub selector: CustomerSelector,
    pub status: i32,
    pub cursor: Option<(i64, String)>,
    pub page: Page,
}

/// A page of a customer's items, one more than the page when another follows.
#[derive(Debug, Clone)]
pub struct CustomerItems<T> {
    pub customer_id: String,
    pub items: Vec<T>,
}

/// A thread with its steps, oldest first.
#[derive(Debug, Clone)]
pub struct ThreadView {
    pub thread: Thread,
    pub last_step: Option<Interaction>,
    pub steps: Vec<Interaction>,
}

/// RecordConsent, validated.
#[derive(Debug, Clone)]
pub struct ConsentDecision {
    pub selector: CustomerSelector,
    pub channel: i32,
    pub purpose: String,
    pub status: i32,
    /// None: decided now.
    pub decided_at_micros: Option<i64>,
    pub source: String,
    /// Empty: the decision is its own key.
    pub idempotency_key: String,
}

/// CheckConsent, validated.
#[derive(Debug, Clone)]
pub struct ConsentQuery {
    pub selector: CustomerSelector,
    pub channel: i32,
    pub purpose: String,
}

/// A customer's current decision for one channel and purpose.
#[derive(Debug, Clone)]
pub struct ConsentAnswer {
    pub customer_id: String,
    pub allowed: bool,
    pub current: Option<Consent>,
}

/// A customer's latest preferences and current consents.
#[derive(Debug, Clone)]
pub struct Preferences {
    pub customer_id: String,
    pub preferences: Vec<Preference>,
    pub consents: Vec<Consent>,
}

/// GetChannelReport, validated: the half-open period and the repeat-contact window.
#[derive(Debug, Clone, Copy)]
pub struct ReportQuery {
    pub start_micros: i64,
    pub end_micros: i64,
    pub window_days: u32,
}

/// One channel's figures in the report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChannelFigures {
    pub channel: i32,
    pub contacts: u64,
    pub automated_contacts: u64,
    /// Per currency, in the order the store gave them.
    pub cost: Vec<Cost>,
    /// The first currency's cost per contact.
    pub average_cost_minor_units: f64,
}

/// The channel report: per-channel figures, shares and rates.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChannelSummary {
    pub channels: Vec<ChannelFigures>,
    pub contacts: u64,
    pub total_cost: Vec<Cost>,
    pub automated_share: f64,
    pub repeat_contact_rate: f64,
    pub repeat_contacts: u64,
    pub threads_resolved: u64,
    pub average_resolution_seconds: f64,
    pub repeat_window_days: u32,
    pub not_contacts: u64,
}

/// Which new interactions a live stream shows (an empty list lets every value pass).
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub customer_id: Option<String>,
    pub channels: Vec<i32>,
    pub kinds: Vec<i32>,
}

impl EventFilter {
    pub fn keeps(&self, interaction: &Interaction) -> bool {
        self.customer_id
            .as_ref()
            .is_none_or(|customer_id| *customer_id == interaction.customer_id)
            && (self.channels.is_empty() || self.channels.contains(&interaction.channel))
            && (self.kinds.is_empty() || self.kinds.contains(&interaction.kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(id: &str, at: i64) -> Interaction {
        Interaction {
            interaction_id: id.into(),
            idempotency_key: id.into(),
            customer_id: "cus_1".into(),
            anchor: "id:cus_1".into(),
            channel: 1,
            kind: kind::COMPLAINT,
            direction: 1,
            occurred_at_micros: at,
            recorded_at_micros: at,
            thread_id: "thr_1".into(),
            thread_status: 0,
            topic: "late delivery".into(),
            summary: String::new(),
            needs: vec![],
            outcome: String::new(),
            sentiment: 0,
            agent: String::new(),
            cost: None,
            automated: false,
        }
    }

    #[test]
    fn a_thread_opens_waits_resolves_and_reopens() {
        let mut thread = Thread::open("thr_1", &step("i1", 10), 0);
        assert_eq!(thread.status, thread_status::OPEN);
        thread.advance(&step("i2", 20), thread_status::WAITING);
        assert_eq!(thread.status, thread_status::WAITING);
        thread.advance(&step("i3", 30), 0);
        assert_eq!(thread.status, thread_status::WAITING, "no status keeps it");
        thread.advance(&step("i4", 40), thread_status::RESOLVED);
        assert_eq!((thread.status, thread.resolved_at_micros), (3, 40));
        // A late-arriving older step does not reopen it.
        thread.advance(&step("i0", 35), 0);
        assert_eq!(thread.status, thread_status::RESOLVED);
        assert_eq!(thread.last_interaction_id, "i4");
        thread.advance(&step("i5", 50), 0);
        assert_eq!(
            (thread.status, thread.resolved_at_micros),
            (thread_status::OPEN, 0)
        );
        assert_eq!(thread.step_count, 6);
    }

    #[test]
    fn the_latest_consent_decision_wins() {
        let decision = |status, at, purpose: &str| Consent {
            consent_id: format!("c{at}"),
            idempotency_key: format!("c{at}"),
            customer_id: "cus_1".into(),
            anchor: String::new(),
            channel: 3,
            purpose: purpose.into(),
            status,
            decided_at_micros: at,
            source: "web".into(),
            recorded_at_micros: 0,
        };
        let current = current_consents(vec![
            decision(1, 10, "marketing"),
            decision(3, 20, "marketing"),
            decision(1, 5, "service"),
        ]);
        assert_eq!(current.len(), 2);
        assert_eq!(current[0].status, 3);
        assert!(!consent_allows(Some(&current[0])));
        assert!(consent_allows(Some(&current[1])));
        assert!(!consent_allows(None), "no decision means no");
    }

    #[test]
    fn an_open_complaint_comes_first_in_the_suggestion() {
        let complaint = Thread::open("thr_9", &step("i1", 10), 0);
        let suggestion = suggest_next_step(&[complaint], &[], 100, |_| "complaint".into());
        assert_eq!(suggestion.action, "resume_thread");
        assert_eq!(
            suggestion.text,
            "resume open complaint thr_9 about late delivery"
        );
        let none = suggest_next_step(&[], &[], 100, |_| String::new());
        assert_eq!(none.action, "welcome");
    }

    #[test]
    fn needs_survive_their_encoding() {
        let needs = vec![
            (
                "delivery".to_owned(),
                "evenings = after 6%\nplease".to_owned(),
            ),
            ("a=b".to_owned(), String::new()),
        ];
        assert_eq!(decode_needs(&encode_needs(&needs)), needs);
    }

    #[test]
    fn self_service_without_agent_is_automated() {
        assert!(is_automated(false, channel::WEB, ""));
        assert!(!is_automated(false, channel::WEB, "agent-7"));
        assert!(!is_automated(false, 1, ""));
        assert!(is_automated(true, 1, "bot"));
    }
}
