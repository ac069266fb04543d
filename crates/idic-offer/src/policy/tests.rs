use rand::SeedableRng;
use rand::rngs::StdRng;

use super::*;
use crate::bandit::BanditConfig;
use crate::profile::{PastChoice, SlotHistory};
use crate::rules::{Condition, Effect};

fn component(id: &str, name: &str, slot: Slot, cost: i64) -> Component {
    Component {
        id: id.into(),
        slot: Some(slot),
        name: name.into(),
        cost: Money {
            currency: "EUR".into(),
            minor: cost,
        },
        available: true,
        ..Component::default()
    }
}

fn catalog() -> Catalog {
    let mut eco = component("packaging.eco", "eco packaging", Slot::Packaging, 120);
    eco.answers_preferences = vec!["packaging=less_plastic".into()];
    let mut gift = component("packaging.gift", "gift wrap", Slot::Packaging, 300);
    gift.requires = vec!["delivery.standard".into()];
    gift.price_minor = 250;
    let mut email = component(
        "communication.email",
        "e-mail updates",
        Slot::Communication,
        1,
    );
    email.channel = 3;
    let mut sms = component("communication.sms", "text messages", Slot::Communication, 5);
    sms.channel = 5;
    let none = component("communication.none", "no updates", Slot::Communication, 0);
    let mut monthly = component(
        "invoice.monthly",
        "consolidated monthly invoice",
        Slot::InvoiceFormat,
        10,
    );
    monthly.eligible_tiers = vec!["A".into(), "B".into()];
    let mut express = component("delivery.express", "express delivery", Slot::Delivery, 900);
    express.incompatible_with = vec!["packaging.gift".into()];
    Catalog::validate(
        &[],
        &[
            component("packaging.standard", "standard box", Slot::Packaging, 50),
            eco,
            gift,
            email,
            sms,
            none,
            monthly,
            component(
                "invoice.itemized",
                "itemized invoice",
                Slot::InvoiceFormat,
                5,
            ),
            express,
            component(
                "delivery.standard",
                "standard delivery",
                Slot::Delivery,
                400,
            ),
        ],
    )
    .unwrap()
}

fn rules() -> RuleSet {
    RuleSet {
        version: 1,
        rules: vec![Rule {
            id: "tier-a-monthly".into(),
            effect: Some(Effect::Default),
            component_id: "invoice.monthly".into(),
            condition: Condition {
                tiers: vec!["A".into()],
                ..Condition::default()
            },
            priority: 10,
            explanation: "tier A business account".into(),
        }],
    }
}

fn compose_for(profile: &Profile) -> Composition {
    let catalog = catalog();
    let rules = rules();
    let bandit = Bandit::new(BanditConfig {
        max_exploration: 0.0,
        ..BanditConfig::default()
    });
    let inputs = Inputs {
        catalog: &catalog,
        rules: &rules,
        bandit: &bandit,
        profile,
    };
    compose(&inputs, &mut StdRng::seed_from_u64(1))
}

fn choice(composition: &Composition, slot: Slot) -> &Choice {
    composition
        .choices
        .iter()
        .find(|choice| choice.slot == slot)
        .unwrap()
}

const MARCH_2_2026: i64 = 1_772_409_600_000_000;

#[test]
fn formats_dates() {
    assert_eq!(format_date(0), "1970-01-01");
    assert_eq!(format_date(MARCH_2_2026 + 3_600_000_000), "2026-03-02");
}

#[test]
fn an_expressed_preference_is_cited_with_date_and_channel() {
    let profile = Profile {
        preferences: vec![Preference {
            key: "packaging".into(),
            value: "less_plastic".into(),
            channel: 1,
            expressed_at: MARCH_2_2026,
            interaction_id: "int_1".into(),
        }],
        consents: Some(vec![]),
        ..Profile::default()
    };
    let packaging = choice(&compose_for(&profile), Slot::Packaging).clone();
    assert_eq!(packaging.component_id, "packaging.eco");
    assert_eq!(
        packaging.reason.text,
        "eco packaging: customer asked for less plastic on 2026-03-02 by phone"
    );
    assert_eq!(packaging.reason.evidence[0].reference, "int_1");
    assert_eq!(packaging.alternatives.len(), 2);
}

#[test]
fn a_rule_decides_for_tier_a_and_eligibility_follows_the_tier() {
    let tier_a = Profile {
        tier: Some("A".into()),
        ..Profile::default()
    };
    let invoice = choice(&compose_for(&tier_a), Slot::InvoiceFormat).clone();
    assert_eq!(invoice.component_id, "invoice.monthly");
    assert_eq!(
        invoice.reason.text,
        "consolidated monthly invoice: tier A business account"
    );
    let unknown_tier = compose_for(&Profile::default());
    let invoice = choice(&unknown_tier, Slot::InvoiceFormat);
    assert_eq!(invoice.component_id, "invoice.itemized");
    assert!(
        invoice.alternatives.is_empty(),
        "monthly needs a known tier A or B"
    );
}

#[test]
fn never_proposes_a_refused_channel_and_none_when_consent_is_unknown() {
    let consent = |channel: i32, granted: bool| crate::profile::Consent {
        channel,
        purpose: "service".into(),
        granted,
        decided_at: MARCH_2_2026,
        source: "call center".into(),
    };
    let refused_email = Profile {
        consents: Some(vec![consent(3, false), consent(5, true)]),
        ..Profile::default()
    };
    let composition = compose_for(&refused_email);
    let communication = choice(&composition, Slot::Communication);
    let offered: Vec<&str> = std::iter::once(communication.component_id.as_str())
        .chain(
            communication
                .alternatives
                .iter()
                .map(|a| a.component_id.as_str()),
        )
        .collect();
    assert!(!offered.contains(&"communication.email"), "{offered:?}");
    assert!(offered.contains(&"communication.sms"));
    let no_decision = compose_for(&Profile {
        consents: Some(vec![]),
        ..Profile::default()
    });
    assert_eq!(
        choice(&no_decision, Slot::Communication).component_id,
        "communication.none",
        "opt-in: no recorded consent, no outbound channel"
    );

    let unknown = compose_for(&Profile::default());
    let communication = choice(&unknown, Slot::Communication);
    assert_eq!(communication.component_id, "communication.none");
    assert!(communication.alternatives.is_empty());
}

#[test]
fn what_the_customer_chose_before_wins_except_in_the_control_group() {
    let mut history = HashMap::new();
    history.insert(
        Slot::Packaging,
        SlotHistory {
            chosen: Some(PastChoice {
                component_id: "packaging.gift".into(),
                offering_id: "off_1".into(),
                recorded_at: MARCH_2_2026,
                changed_to: true,
                accepted_in_a_row: 0,
            }),
            rejected: vec!["packaging.standard".into()],
        },
    );
    let profile = Profile {
        history,
        ..Profile::default()
    };
    let composition = compose_for(&profile);
    let packaging = choice(&composition, Slot::Packaging);
    assert_eq!(packaging.component_id, "packaging.gift");
    assert_eq!(packaging.reason.source, Source::CustomerHistory);
    assert_eq!(
        packaging.alternatives.last().unwrap().component_id,
        "packaging.standard",
        "what the customer rejected ranks last"
    );
    // Gift wrap requires standard delivery, and express is incompatible with it.
    let delivery = choice(&composition, Slot::Delivery);
    assert_eq!(delivery.component_id, "delivery.standard");
    assert!(delivery.reason.text.contains("required by gift wrap"));
    assert!(delivery.alternatives.is_empty());

    let control = compose_for(&Profile {
        control_group: true,
        ..profile
    });
    assert_ne!(
        choice(&control, Slot::Packaging).component_id,
        "packaging.gift"
    );
}

#[test]
fn order_size_limits_apply() {
    let mut bulk = component("packaging.bulk", "bulk pallet", Slot::Packaging, 10);
    bulk.min_order_quantity = 50;
    let catalog = Catalog::validate(
        &[],
        &[bulk, component("packaging.box", "box", Slot::Packaging, 40)],
    )
    .unwrap();
    let rules = RuleSet::default();
    let bandit = Bandit::default();
    let small = Profile {
        order_quantity: 3,
        ..Profile::default()
    };
    let large = Profile {
        order_quantity: 80,
        ..Profile::default()
    };
    let pick = |profile: &Profile| {
        let inputs = Inputs {
            catalog: &catalog,
            rules: &rules,
            bandit: &bandit,
            profile,
        };
        rank_slot(&inputs, Slot::Packaging, &mut StdRng::seed_from_u64(3)).unwrap()
    };
    assert_eq!(pick(&small).component_id, "packaging.box");
    assert!(pick(&small).alternatives.is_empty());
    let large_pick = pick(&large);
    assert_eq!(large_pick.alternatives.len(), 1);
}
