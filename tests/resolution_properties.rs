//! Properties of resolution on generated records with ground truth: the clusters do not
//! depend on arrival order, and accuracy stays above a floor (the benchmark measures
//! it at 100,000 records; this guards against regressions on a small sample).

use futures::StreamExt;
use idic_proto::v1 as pb;
use idic_testkit::TestSuite;
use idic_testkit::generator::{
    GeneratedRecord, GeneratorConfig, generate, pairwise_scores, partition, write_records_csv,
};

fn shuffled(records: &[GeneratedRecord], seed: u64) -> Vec<GeneratedRecord> {
    let mut state = seed | 1;
    let mut order: Vec<usize> = (0..records.len()).collect();
    for index in (1..order.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        order.swap(index, (state % (index as u64 + 1)) as usize);
    }
    order
        .into_iter()
        .map(|index| records[index].clone())
        .collect()
}

/// Imports `records` (through the CSV format) into a fresh suite and returns each
/// record's customer.
async fn resolve_all(records: &[GeneratedRecord]) -> Vec<(String, String)> {
    let mut csv = Vec::new();
    write_records_csv(records, &mut csv).unwrap();
    let mut reader = idic::records_csv::RecordCsv::from_reader(csv.as_slice()).unwrap();
    let mut batches = Vec::new();
    let mut batch = Vec::new();
    while let Some(record) = reader.next_record().unwrap() {
        batch.push(record);
        if batch.len() == 250 {
            batches.push(pb::ImportRecordsRequest {
                records: std::mem::take(&mut batch),
                strict: false,
                skip_auto_estimate: false,
            });
        }
    }
    batches.push(pb::ImportRecordsRequest {
        records: batch,
        strict: false,
        skip_auto_estimate: false,
    });
    let suite = TestSuite::start().await;
    let mut identity = suite.identity();
    let summary = identity
        .import_records(futures::stream::iter(batches))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(summary.rejected, 0, "{:?}", summary.errors.first());
    let assignments = identity
        .export_clusters(pb::ExportClustersRequest {})
        .await
        .unwrap()
        .into_inner()
        .map(|item| {
            let item = item.unwrap();
            (
                format!("{}/{}", item.source_system, item.source_record_id),
                item.customer_id,
            )
        })
        .collect()
        .await;
    suite.stop().await.unwrap();
    assignments
}

#[tokio::test]
async fn the_same_records_in_any_order_give_the_same_customers_and_accuracy_holds() {
    let records = generate(&GeneratorConfig::new(1_500, 42));
    let first = resolve_all(&records).await;
    let expected = partition(&first);
    for seed in [7, 99] {
        let other = partition(&resolve_all(&shuffled(&records, seed)).await);
        let differing: Vec<&Vec<String>> = other
            .iter()
            .filter(|group| expected.binary_search(group).is_err())
            .collect();
        assert!(
            differing.is_empty(),
            "order {seed} gave other clusters: {differing:?}"
        );
    }
    let counts = pairwise_scores(&GeneratedRecord::truth_pairs(&records), &first);
    assert!(
        counts.precision() >= 0.97,
        "precision {:.4} ({counts:?})",
        counts.precision()
    );
    assert!(
        counts.recall() >= 0.75,
        "recall {:.4} ({counts:?})",
        counts.recall()
    );
}
