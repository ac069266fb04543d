//! Interaction's domain: contacts, threads, consent and the rules between them. No SQL
//! and no protobuf here; enum fields hold the wire numbers of the contract's enums.

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

/// Wire numbers of the `idic.v1.InteractionType` values the rules look at.
pub mod kind {
    pub const PURCHASE: i32 = 6;
    pub const COMPLAINT: i32 = 8;
    pub const SURVEY_RESPONSE: i32 = 9;
    pub const OFFER_PRESENTED: i32 = 10;
    pub const OFFER_ACCEPTED: i32 = 11;
    pub const OFFER_REJECTED: i32 = 12;
}

/// Wire numbers of the `idic.v1.Channel` values the rules look at.
pub mod channel {
    pub const WEB: i32 = 2;
    pub const MOBILE_APP: i32 = 5;
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
    /// The reference the caller used (see [`crate::anchor`]).
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
