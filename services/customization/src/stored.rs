//! The stored form of offerings and rule sets: base64 of their contract messages
//! (`StoredOffering`, `OfferRuleSet`), as customization has always stored them, so that
//! rows written before read the same. An adapter: the service and the store hold
//! domain values and text, never protobuf.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use idic_proto::v1 as pb;
use prost::Message as _;

use crate::convert;
use crate::domain::{PublishedRules, StoredOffering};

pub fn encode_offering(stored: &StoredOffering) -> String {
    BASE64.encode(convert::stored_offering_to_proto(stored).encode_to_vec())
}

pub fn decode_offering(text: &str) -> anyhow::Result<StoredOffering> {
    let message = pb::StoredOffering::decode(BASE64.decode(text)?.as_slice())?;
    convert::stored_offering_from_proto(&message)
}

pub fn encode_rules(rules: &PublishedRules) -> String {
    BASE64.encode(convert::rules_to_proto(rules).encode_to_vec())
}

pub fn decode_rules(text: &str) -> anyhow::Result<PublishedRules> {
    let message = pb::OfferRuleSet::decode(BASE64.decode(text)?.as_slice())?;
    Ok(convert::rules_from_proto(&message))
}

#[cfg(test)]
mod tests {
    use idic_offer::policy::{Evidence, Gap, Reason, Source};
    use idic_offer::rules::{Condition, Effect, Rule};
    use idic_offer::{Component, Money, Slot};

    use super::*;
    use crate::domain::{
        OfferedAlternative, OfferedChoice, Offering, OfferingInputs, Order, OrderLine, OutcomeKind,
        SlotOutcome,
    };

    fn component(id: &str, slot: Slot) -> Component {
        Component {
            id: id.into(),
            slot: Some(slot),
            name: format!("{id} name"),
            description: "described".into(),
            cost: Money {
                currency: "EUR".into(),
                minor: 120,
            },
            price_minor: -50,
            available: true,
            requires: vec!["base".into()],
            incompatible_with: vec!["other".into()],
            eligible_tiers: vec!["A".into()],
            eligible_segments: vec!["seg-1".into()],
            eligible_customer_types: vec!["always_a_share".into()],
            min_order_quantity: 2,
            max_order_quantity: 9,
            answers_preferences: vec!["packaging=eco".into()],
            channel: 3,
            consent_purpose: "marketing".into(),
        }
    }

    fn reason(source: Source) -> Reason {
        Reason {
            text: "asked for less plastic".into(),
            source,
            evidence: vec![Evidence {
                source: "interaction".into(),
                detail: "by phone".into(),
                observed_at: 1_700_000_000_123_456,
                channel: 2,
                reference: "int_1".into(),
            }],
        }
    }

    fn sample() -> StoredOffering {
        StoredOffering {
            offering: Offering {
                offering_id: "off_1".into(),
                customer_id: "cus_1".into(),
                created_at_micros: 1_700_000_000_654_321,
                choices: vec![OfferedChoice {
                    slot: Slot::Packaging,
                    component: Some(component("eco-box", Slot::Packaging)),
                    reason: reason(Source::Preference),
                    alternatives: vec![
                        OfferedAlternative {
                            component: Some(component("plain-box", Slot::Packaging)),
                            score: 0.25,
                            reason: reason(Source::SegmentLearning),
                        },
                        OfferedAlternative {
                            component: None,
                            score: 0.0,
                            reason: reason(Source::Default),
                        },
                    ],
                    score: 0.75,
                }],
                gaps: vec![Gap {
                    slot: Slot::Communication,
                    reason: "consent unknown".into(),
                }],
                total_price_adjustment: vec![Money {
                    currency: "EUR".into(),
                    minor: -50,
                }],
                degraded: true,
                missing_sources: vec!["interaction".into()],
                control_group: false,
                rules_version: 4,
            },
            inputs: Some(OfferingInputs {
                anchor: "EMAIL:ann@example.com".into(),
                tier: "A".into(),
                segment_id: "seg-1".into(),
                segment_label: "books".into(),
                customer_type: "always_a_share".into(),
                business_account: true,
                preferences: vec!["packaging=eco".into()],
                refused_channels: vec![4],
                order: Some(Order {
                    order_id: "o-1".into(),
                    lines: vec![OrderLine {
                        product_id: "p-1".into(),
                        category: "books".into(),
                        quantity: 3,
                        unit_price: Some(Money {
                            currency: "EUR".into(),
                            minor: 999,
                        }),
                    }],
                }),
                channel: 2,
                occasion: "birthday".into(),
            }),
            outcomes: vec![SlotOutcome {
                slot: Slot::Packaging,
                kind: OutcomeKind::Changed,
                changed_to: "plain-box".into(),
            }],
        }
    }

    #[test]
    fn an_offering_reads_back_as_stored() {
        let stored = sample();
        assert_eq!(decode_offering(&encode_offering(&stored)).unwrap(), stored);
    }

    /// A record written before the service held domain values (the contract message,
    /// encoded as it was) reads and re-encodes to the same bytes: nothing is lost.
    #[test]
    fn a_record_in_the_contract_form_is_read_without_loss() {
        let message = convert::stored_offering_to_proto(&sample());
        let text = BASE64.encode(message.encode_to_vec());
        let read = decode_offering(&text).unwrap();
        assert_eq!(convert::stored_offering_to_proto(&read), message);
        assert_eq!(encode_offering(&read), text);
    }

    #[test]
    fn a_record_with_an_unknown_slot_is_an_error_not_a_panic() {
        let mut message = convert::stored_offering_to_proto(&sample());
        message.offering.as_mut().unwrap().choices[0].slot = 99;
        let text = BASE64.encode(message.encode_to_vec());
        assert!(decode_offering(&text).is_err());
        assert!(decode_offering("not base64!").is_err());
    }

    #[test]
    fn rules_read_back_as_published() {
        let rules = PublishedRules {
            version: 3,
            published_at_micros: Some(1_700_000_000_000_001),
            rules: vec![Rule {
                id: "r1".into(),
                effect: Some(Effect::OnlyFor),
                component_id: "eco-box".into(),
                condition: Condition {
                    tiers: vec!["A".into()],
                    segments: Vec::new(),
                    customer_types: vec!["always_a_share".into()],
                    preference: "packaging=eco".into(),
                },
                priority: 7,
                explanation: "eco for top customers".into(),
            }],
        };
        assert_eq!(decode_rules(&encode_rules(&rules)).unwrap(), rules);
    }
}
