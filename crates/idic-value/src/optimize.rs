//! A small BFGS minimizer with a backtracking (Armijo) line search, for the
//! likelihoods here: a handful of parameters, smooth, with analytic gradients.
//! Written out because the problems are 3- and 4-dimensional and the fit speed target
//! leaves no room for numerical gradients.

/// Where the minimizer stopped.
#[derive(Debug, Clone, PartialEq)]
pub struct Minimum {
    pub point: Vec<f64>,
    pub value: f64,
    pub iterations: usize,
    /// True when the gradient became negligible before the iteration limit.
    pub converged: bool,
}

/// Minimizes `objective`, which returns f(x) and writes ∇f(x) into its second argument.
pub fn bfgs<F>(
    objective: F,
    start: &[f64],
    max_iterations: usize,
    gradient_tolerance: f64,
) -> Minimum
where
    F: Fn(&[f64], &mut [f64]) -> f64,
{
    let dimension = start.len();
    let mut point = start.to_vec();
    let mut gradient = vec![0.0; dimension];
    let mut value = objective(&point, &mut gradient);
    // Inverse Hessian approximation, row-major.
    let mut inverse_hessian = identity(dimension);
    let mut candidate = vec![0.0; dimension];
    let mut candidate_gradient = vec![0.0; dimension];
    for iteration in 0..max_iterations {
        if norm(&gradient) < gradient_tolerance {
            return Minimum {
                point,
                value,
                iterations: iteration,
                converged: true,
            };
        }
        let mut direction = multiply(&inverse_hessian, &gradient);
        direction
            .iter_mut()
            .for_each(|component| *component = -*component);
        let mut slope = dot(&direction, &gradient);
        if slope >= 0.0 || !slope.is_finite() {
            // Lost positive definiteness: restart along steepest descent.
            inverse_hessian = identity(dimension);
            direction = gradient.iter().map(|component| -component).collect();
            slope = dot(&direction, &gradient);
        }
        let mut step = 1.0;
        let mut accepted = false;
        for _ in 0..60 {
            for index in 0..dimension {
                candidate[index] = point[index] + step * direction[index];
            }
            let candidate_value = objective(&candidate, &mut candidate_gradient);
            if candidate_value.is_finite() && candidate_value <= value + 1e-4 * step * slope {
                accepted = true;
                let s: Vec<f64> = (0..dimension).map(|i| candidate[i] - point[i]).collect();
                let y: Vec<f64> = (0..dimension)
                    .map(|i| candidate_gradient[i] - gradient[i])
                    .collect();
                update_inverse_hessian(&mut inverse_hessian, &s, &y);
                let improvement = value - candidate_value;
                point.copy_from_slice(&candidate);
                gradient.copy_from_slice(&candidate_gradient);
                value = candidate_value;
                if improvement.abs() <= 1e-15 * value.abs().max(1.0)
                    && norm(&gradient) < gradient_tolerance.sqrt()
                {
                    return Minimum {
                        point,
                        value,
                        iterations: iteration + 1,
                        converged: true,
                    };
                }
                break;
            }
            step *= 0.5;
        }
        if !accepted {
            // No descent left at machine precision: this is the minimum we can reach.
            let converged = norm(&gradient) < gradient_tolerance.sqrt();
            return Minimum {
                point,
                value,
                iterations: iteration + 1,
                converged,
            };
        }
    }
    let converged = norm(&gradient) < gradient_tolerance;
    Minimum {
        point,
        value,
        iterations: max_iterations,
        converged,
    }
}

fn identity(dimension: usize) -> Vec<f64> {
    let mut matrix = vec![0.0; dimension * dimension];
    for index in 0..dimension {
        matrix[index * dimension + index] = 1.0;
    }
    matrix
}

fn multiply(matrix: &[f64], vector: &[f64]) -> Vec<f64> {
    let dimension = vector.len();
    (0..dimension)
        .map(|row| dot(&matrix[row * dimension..(row + 1) * dimension], vector))
        .collect()
}

fn dot(left: &[f64], right: &[f64]) -> f64 {
    left.iter().zip(right).map(|(l, r)| l * r).sum()
}

fn norm(vector: &[f64]) -> f64 {
    dot(vector, vector).sqrt()
}

/// The BFGS update of the inverse Hessian H from step s and gradient change y:
/// H' = (I - ρ s yᵀ) H (I - ρ y sᵀ) + ρ s sᵀ, skipped when the curvature sᵀy is not
/// positive (it would break positive definiteness).
fn update_inverse_hessian(matrix: &mut [f64], s: &[f64], y: &[f64]) {
    let dimension = s.len();
    let curvature = dot(s, y);
    if curvature <= 1e-12 * norm(s) * norm(y) {
        return;
    }
    let rho = 1.0 / curvature;
    let hy = multiply(matrix, y);
    let yhy = dot(y, &hy);
    for row in 0..dimension {
        for column in 0..dimension {
            matrix[row * dimension + column] += -rho * (s[row] * hy[column] + hy[row] * s[column])
                + (rho * rho * yhy + rho) * s[row] * s[column];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimizes_the_rosenbrock_function() {
        let rosenbrock = |x: &[f64], gradient: &mut [f64]| {
            let (a, b) = (x[0], x[1]);
            gradient[0] = -2.0 * (1.0 - a) - 400.0 * a * (b - a * a);
            gradient[1] = 200.0 * (b - a * a);
            (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2)
        };
        let minimum = bfgs(rosenbrock, &[-1.2, 1.0], 500, 1e-10);
        assert!(minimum.converged, "{minimum:?}");
        assert!((minimum.point[0] - 1.0).abs() < 1e-6, "{minimum:?}");
        assert!((minimum.point[1] - 1.0).abs() < 1e-6, "{minimum:?}");
    }
}
