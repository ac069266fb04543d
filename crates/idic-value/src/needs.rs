//! Needs: category affinities of one customer, how differentiated the base's needs
//! are, and needs-based segments by k-means with k chosen by silhouette.
//!
//! A customer's needs vector is its share of spend per category (the base's leading
//! categories, the rest pooled). Segments come from k-means (the `clustering` crate);
//! k is the one in 2..=`max_k` with the highest mean silhouette on a sample of up to
//! `SILHOUETTE_SAMPLE` customers, and 1 (no segmentation) when no k reaches
//! `MIN_SILHOUETTE` (Kaufman & Rousseeuw: 0.51 and above is a reasonable structure;
//! k-means on structureless, uniform data already scores 0.3 to 0.4).

use clustering::{Elem, kmeans};

/// Customers the silhouette is computed on (it is quadratic).
pub const SILHOUETTE_SAMPLE: usize = 1_000;
/// The lowest mean silhouette that counts as structure.
pub const MIN_SILHOUETTE: f64 = 0.5;
/// Iterations of k-means.
const KMEANS_ITERATIONS: usize = 50;

/// One customer's affinity for a category.
#[derive(Debug, Clone, PartialEq)]
pub struct Affinity {
    pub category: String,
    /// Share of the customer's spend, in [0, 1].
    pub share: f64,
    /// `share` over the base's share of spend in the category.
    pub lift: f64,
}

/// Affinities from a customer's spend per category and the base's share per category,
/// highest share first.
pub fn affinities(spend: &[(String, f64)], base_share: impl Fn(&str) -> f64) -> Vec<Affinity> {
    let total: f64 = spend.iter().map(|(_, amount)| amount.max(0.0)).sum();
    if total <= 0.0 {
        return Vec::new();
    }
    let mut result: Vec<Affinity> = spend
        .iter()
        .filter(|(_, amount)| *amount > 0.0)
        .map(|(category, amount)| {
            let share = amount / total;
            let base = base_share(category);
            let lift = if base > 0.0 { share / base } else { 0.0 };
            Affinity {
                category: category.clone(),
                share,
                lift,
            }
        })
        .collect();
    result.sort_by(|l, r| {
        r.share
            .total_cmp(&l.share)
            .then_with(|| l.category.cmp(&r.category))
    });
    result
}

/// Jensen-Shannon divergence in bits (0 = same mix, 1 = disjoint) of two distributions.
pub fn jensen_shannon(left: &[f64], right: &[f64]) -> f64 {
    let mut divergence = 0.0;
    for (&p, &q) in left.iter().zip(right) {
        let m = 0.5 * (p + q);
        if p > 0.0 {
            divergence += 0.5 * p * (p / m).log2();
        }
        if q > 0.0 {
            divergence += 0.5 * q * (q / m).log2();
        }
    }
    divergence.clamp(0.0, 1.0)
}

/// How differentiated the base's needs are, in [0, 1]: the mean Jensen-Shannon
/// divergence of each customer's category mix from the base's mix. 0 when everyone
/// buys like the average customer; near 1 when each buys from categories others don't.
pub fn needs_differentiation(vectors: &[Vec<f64>], base_mix: &[f64]) -> f64 {
    if vectors.is_empty() {
        return 0.0;
    }
    vectors
        .iter()
        .map(|vector| jensen_shannon(vector, base_mix))
        .sum::<f64>()
        / vectors.len() as f64
}

/// A segmentation of customers.
#[derive(Debug, Clone, PartialEq)]
pub struct Segmentation {
    pub k: usize,
    /// Segment index of each input vector.
    pub membership: Vec<usize>,
    /// Each segment's mean vector.
    pub centroids: Vec<Vec<f64>>,
    /// Mean silhouette of the chosen k on the sample (0 for k = 1).
    pub silhouette: f64,
    /// (k, mean silhouette) for every k tried.
    pub tried: Vec<(usize, f64)>,
}

struct Point<'a>(&'a [f64]);

impl Elem for Point<'_> {
    fn dimensions(&self) -> usize {
        self.0.len()
    }
    fn at(&self, i: usize) -> f64 {
        self.0[i]
    }
}

fn distance(left: &[f64], right: &[f64]) -> f64 {
    left.iter()
        .zip(right)
        .map(|(l, r)| (l - r) * (l - r))
        .sum::<f64>()
        .sqrt()
}

/// Mean silhouette of a clustering of `points`.
pub fn silhouette(points: &[&[f64]], membership: &[usize], k: usize) -> f64 {
    let count = points.len();
    if count < 2 || k < 2 {
        return 0.0;
    }
    let mut total = 0.0;
    for i in 0..count {
        let mut sums = vec![0.0; k];
        let mut sizes = vec![0usize; k];
        for j in 0..count {
            if i != j {
                sums[membership[j]] += distance(points[i], points[j]);
                sizes[membership[j]] += 1;
            }
        }
        let own = membership[i];
        if sizes[own] == 0 {
            continue; // a singleton scores 0
        }
        let a = sums[own] / sizes[own] as f64;
        let b = (0..k)
            .filter(|&c| c != own && sizes[c] > 0)
            .map(|c| sums[c] / sizes[c] as f64)
            .fold(f64::INFINITY, f64::min);
        if b.is_finite() && a.max(b) > 0.0 {
            total += (b - a) / a.max(b);
        }
    }
    total / count as f64
}

/// Segments `vectors` (see the module header for how k is chosen).
pub fn segment(vectors: &[Vec<f64>], max_k: usize) -> Segmentation {
    let count = vectors.len();
    let one = || Segmentation {
        k: 1,
        membership: vec![0; count],
        centroids: vec![mean(vectors)],
        silhouette: 0.0,
        tried: Vec::new(),
    };
    if count < 4 {
        return one();
    }
    // An evenly strided sample keeps selection deterministic and quadratic work bounded.
    let stride = count.div_ceil(SILHOUETTE_SAMPLE).max(1);
    let sample: Vec<&[f64]> = vectors.iter().step_by(stride).map(Vec::as_slice).collect();
    let sample_points: Vec<Point> = sample.iter().map(|v| Point(v)).collect();
    let mut tried = Vec::new();
    let mut best: Option<(usize, f64)> = None;
    for k in 2..=max_k.min(sample.len() - 1) {
        let clustered = kmeans(k, &sample_points, KMEANS_ITERATIONS);
        let score = silhouette(&sample, &clustered.membership, k);
        tried.push((k, score));
        if best.is_none_or(|(_, best_score)| score > best_score) {
            best = Some((k, score));
        }
    }
    let Some((k, score)) = best.filter(|&(_, score)| score >= MIN_SILHOUETTE) else {
        return Segmentation { tried, ..one() };
    };
    let points: Vec<Point> = vectors.iter().map(|v| Point(v)).collect();
    let clustered = kmeans(k, &points, KMEANS_ITERATIONS);
    let centroids = clustered
        .centroids
        .iter()
        .map(|centroid| centroid.0.clone())
        .collect();
    Segmentation {
        k,
        membership: clustered.membership,
        centroids,
        silhouette: score,
        tried,
    }
}

fn mean(vectors: &[Vec<f64>]) -> Vec<f64> {
    let dimensions = vectors.first().map_or(0, Vec::len);
    let mut sum = vec![0.0; dimensions];
    for vector in vectors {
        for (total, value) in sum.iter_mut().zip(vector) {
            *total += value;
        }
    }
    let count = vectors.len().max(1) as f64;
    sum.iter().map(|total| total / count).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affinities_and_lift() {
        let spend = vec![("books".to_owned(), 75.0), ("music".to_owned(), 25.0)];
        let result = affinities(
            &spend,
            |category| if category == "books" { 0.5 } else { 0.25 },
        );
        assert_eq!(result[0].category, "books");
        assert!((result[0].share - 0.75).abs() < 1e-12);
        assert!((result[0].lift - 1.5).abs() < 1e-12);
    }

    #[test]
    fn divergence_is_zero_for_the_same_mix_and_one_for_disjoint() {
        assert!(jensen_shannon(&[0.5, 0.5], &[0.5, 0.5]).abs() < 1e-12);
        assert!((jensen_shannon(&[1.0, 0.0], &[0.0, 1.0]) - 1.0).abs() < 1e-12);
        let same = vec![vec![0.5, 0.5]; 10];
        assert!(needs_differentiation(&same, &[0.5, 0.5]).abs() < 1e-12);
    }

    #[test]
    fn finds_three_planted_segments() {
        let mut vectors = Vec::new();
        for index in 0..300 {
            let jitter = f64::from(index % 7) * 0.01;
            let vector = match index % 3 {
                0 => vec![0.9 - jitter, 0.05 + jitter, 0.05],
                1 => vec![0.05, 0.9 - jitter, 0.05 + jitter],
                _ => vec![0.05 + jitter, 0.05, 0.9 - jitter],
            };
            vectors.push(vector);
        }
        let segmentation = segment(&vectors, 6);
        assert_eq!(segmentation.k, 3, "{:?}", segmentation.tried);
        assert!(segmentation.silhouette > 0.8);
        // Members of a planted group share a segment.
        assert_eq!(segmentation.membership[0], segmentation.membership[3]);
        assert_ne!(segmentation.membership[0], segmentation.membership[1]);
    }

    #[test]
    fn uniform_noise_is_one_segment() {
        // An even grid over the square: no clusters, only spread.
        let vectors: Vec<Vec<f64>> = (0..400)
            .map(|i| vec![f64::from(i % 20) / 20.0, f64::from(i / 20) / 20.0])
            .collect();
        let segmentation = segment(&vectors, 5);
        assert_eq!(segmentation.k, 1);
    }
}
