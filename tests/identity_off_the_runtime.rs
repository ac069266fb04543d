//! Identity's CPU-heavy work runs off the async runtime: while `EstimateParameters`
//! samples and fits (seconds of CPU on a large base), `Resolve` is answered. The test
//! runs the whole suite, its clients and the estimate on ONE runtime thread, so a fit
//! on that thread would answer nothing until it ended.

use std::time::{Duration, Instant};

use idic_proto::v1 as pb;
use idic_testkit::TestSuite;

fn person(index: usize) -> pb::SourceRecord {
    pb::SourceRecord {
        source_system: "crm".into(),
        source_record_id: format!("p{index}"),
        name: Some(pb::PersonName {
            given: format!("Given{}", index % 7),
            family: format!("Family{}", index % 5),
            ..Default::default()
        }),
        emails: vec![format!("person{index}@example.com")],
        ..Default::default()
    }
}

fn resolve_request(index: usize) -> pb::ResolveRequest {
    pb::ResolveRequest {
        query: Some(pb::resolve_request::Query::Identifier(pb::Identifier {
            kind: pb::IdentifierKind::Email as i32,
            value: format!("person{index}@example.com"),
            ..Default::default()
        })),
        max_candidates: 0,
    }
}

#[tokio::test(flavor = "current_thread")]
async fn resolve_is_answered_while_an_estimate_runs() {
    let suite = TestSuite::start().await;
    let mut identity = suite.identity();
    for index in 0..60 {
        identity
            .upsert_record(pb::UpsertRecordRequest {
                record: Some(person(index)),
                strict: false,
            })
            .await
            .expect("written");
    }

    // A fit of a second or more in a debug build (the default is 200,000 pairs).
    let mut estimating = suite.identity();
    let began = Instant::now();
    let estimate = tokio::spawn(async move {
        let answer = estimating
            .estimate_parameters(pb::EstimateParametersRequest {
                random_pairs: 100_000,
                candidate_pairs: 0,
            })
            .await;
        (answer, began.elapsed())
    });
    // Let the estimate reach the server first.
    tokio::time::sleep(Duration::from_millis(20)).await;

    // The longest time without an answer, from the estimate's start: a fit on the
    // runtime's only thread would stop everything, the sleep above included.
    let mut longest_silence = Duration::ZERO;
    let mut last_answer = began;
    let mut answered_meanwhile = 0;
    let mut index = 0;
    while !estimate.is_finished() {
        let found = identity
            .resolve(resolve_request(index % 60))
            .await
            .expect("resolved")
            .into_inner();
        assert_eq!(found.candidates.len(), 1, "{found:?}");
        longest_silence = longest_silence.max(last_answer.elapsed());
        last_answer = Instant::now();
        if !estimate.is_finished() {
            answered_meanwhile += 1;
        }
        index += 1;
    }
    let (answer, took) = estimate.await.unwrap();
    answer.expect("the estimate succeeds");
    eprintln!(
        "estimate took {:.2} s; {answered_meanwhile} resolves answered meanwhile, at most {:.1} ms apart",
        took.as_secs_f64(),
        longest_silence.as_secs_f64() * 1e3
    );
    assert!(
        answered_meanwhile >= 3 && longest_silence < took / 2,
        "{answered_meanwhile} resolves answered during a {took:?} estimate, at most {longest_silence:?} apart"
    );
}
