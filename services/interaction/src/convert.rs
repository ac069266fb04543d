//! Between the wire and the domain, for the handler: [`requests`] turns each request
//! into domain values, validating every field (a RecordInteraction's in `draft`);
//! [`answers`] turns what the service returned into the response; [`messages`] holds
//! the conversions of the core values that both use (and the bus adapter too). The
//! contract's enum numbers the domain relies on are checked here against the
//! generated code.

pub mod answers;
mod draft;
pub mod messages;
pub mod requests;

#[cfg(test)]
mod tests {
    use idic_proto::v1 as pb;

    use crate::domain::{
        NOT_CONTACT_KINDS, channel, consent_status, direction, kind, thread_status,
    };

    /// The store filters by wire numbers: they must be the contract's.
    #[test]
    fn purchases_and_offer_events_are_not_contacts() {
        let kinds = [
            pb::InteractionType::Purchase,
            pb::InteractionType::OfferPresented,
            pb::InteractionType::OfferAccepted,
            pb::InteractionType::OfferRejected,
        ];
        assert_eq!(NOT_CONTACT_KINDS, kinds.map(|kind| kind as i32));
    }

    /// The domain's names of interaction types are the contract's, lower case.
    #[test]
    fn type_names_are_the_contracts() {
        for number in -1..=14 {
            let expected = pb::InteractionType::try_from(number)
                .map(|value| {
                    value
                        .as_str_name()
                        .trim_start_matches("INTERACTION_TYPE_")
                        .to_lowercase()
                        .replace('_', " ")
                })
                .unwrap_or_else(|_| "contact".to_owned());
            assert_eq!(kind::name(number), expected, "type {number}");
        }
    }

    /// The wire numbers the domain's rules use are the contract's.
    #[test]
    fn domain_numbers_are_the_contracts() {
        use pb::InteractionType as Type;
        let kinds = [
            (kind::CHAT, Type::Chat),
            (kind::WEB_VISIT, Type::WebVisit),
            (kind::PURCHASE, Type::Purchase),
            (kind::INQUIRY, Type::Inquiry),
            (kind::COMPLAINT, Type::Complaint),
            (kind::SURVEY_RESPONSE, Type::SurveyResponse),
            (kind::OFFER_PRESENTED, Type::OfferPresented),
            (kind::OFFER_ACCEPTED, Type::OfferAccepted),
            (kind::OFFER_REJECTED, Type::OfferRejected),
        ];
        for (number, value) in kinds {
            assert_eq!(number, value as i32, "{value:?}");
        }
        assert_eq!(channel::WEB, pb::Channel::Web as i32);
        assert_eq!(channel::MOBILE_APP, pb::Channel::MobileApp as i32);
        assert_eq!(direction::INBOUND, pb::Direction::Inbound as i32);
        assert_eq!(direction::OUTBOUND, pb::Direction::Outbound as i32);
        assert_eq!(thread_status::OPEN, pb::ThreadStatus::Open as i32);
        assert_eq!(thread_status::WAITING, pb::ThreadStatus::Waiting as i32);
        assert_eq!(thread_status::RESOLVED, pb::ThreadStatus::Resolved as i32);
        assert_eq!(consent_status::GRANTED, pb::ConsentStatus::Granted as i32);
        assert_eq!(
            crate::domain::SENTIMENT_NEGATIVE,
            pb::Sentiment::Negative as i32
        );
    }
}
