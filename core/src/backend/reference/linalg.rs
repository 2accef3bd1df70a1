//! The batched matrix product of [`MatmulSpec`], as the textbook triple loop.

use super::filled;
use crate::backend::ops::MatmulSpec;
use crate::error::Result;
use crate::scalar::Float;

/// `out[b, i, j] = sum_l A[b, i, l] * B[b, l, j]`, with `A` and `B` read through the transpose
/// and batching flags of `spec`; the sum runs over `l` in order, in f64. The call has passed
/// [`validate::matmul`](crate::backend::validate::matmul).
pub(super) fn matmul<T: Float>(lhs: &[T], rhs: &[T], spec: &MatmulSpec) -> Result<Vec<T>> {
    let &MatmulSpec {
        batch,
        m,
        k,
        n,
        transpose_lhs,
        transpose_rhs,
        lhs_batched,
        rhs_batched,
    } = spec;
    // A[b, i, l]: lhs holds [k, m] matrices when transposed, [m, k] otherwise.
    let a = |b: usize, i: usize, l: usize| {
        let base = if lhs_batched { b * m * k } else { 0 };
        let within = if transpose_lhs { l * m + i } else { i * k + l };
        lhs[base + within].as_f64()
    };
    // B[b, l, j]: rhs holds [n, k] matrices when transposed, [k, n] otherwise.
    let bm = |b: usize, l: usize, j: usize| {
        let base = if rhs_batched { b * k * n } else { 0 };
        let within = if transpose_rhs { j * k + l } else { l * n + j };
        rhs[base + within].as_f64()
    };
    let mut out = filled(spec.out_len(), T::zero())?;
    for b in 0..batch {
        for i in 0..m {
            for j in 0..n {
                let mut acc = 0.0;
                for l in 0..k {
                    acc += a(b, i, l) * bm(b, l, j);
                }
                out[(b * m + i) * n + j] = T::of_f64(acc);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A = [[1, 2, 3], [4, 5, 6]] (2x3), B = [[7, 8], [9, 10], [11, 12]] (3x2).
    const A: [f64; 6] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    const A_T: [f64; 6] = [1.0, 4.0, 2.0, 5.0, 3.0, 6.0];
    const B: [f64; 6] = [7.0, 8.0, 9.0, 10.0, 11.0, 12.0];
    const B_T: [f64; 6] = [7.0, 9.0, 11.0, 8.0, 10.0, 12.0];
    /// A @ B, worked out by hand.
    const AB: [f64; 4] = [58.0, 64.0, 139.0, 154.0];

    fn spec(tl: bool, tr: bool) -> MatmulSpec {
        MatmulSpec {
            transpose_lhs: tl,
            transpose_rhs: tr,
            ..MatmulSpec::batched(1, 2, 3, 2)
        }
    }

    #[test]
    fn plain_product() {
        assert_eq!(matmul(&A, &B, &spec(false, false)).unwrap(), AB.to_vec());
    }

    #[test]
    fn each_transpose_flag() {
        assert_eq!(matmul(&A_T, &B, &spec(true, false)).unwrap(), AB.to_vec());
        assert_eq!(matmul(&A, &B_T, &spec(false, true)).unwrap(), AB.to_vec());
        assert_eq!(matmul(&A_T, &B_T, &spec(true, true)).unwrap(), AB.to_vec());
        // Reading A as transposed without transposing the data gives a different product:
        // A^T is [[1, 3, 5], [2, 4, 6]] read from A's storage as [3, 2].
        let out = matmul(&A, &B, &spec(true, false)).unwrap();
        assert_eq!(
            out,
            vec![
                1.0 * 7.0 + 3.0 * 9.0 + 5.0 * 11.0,
                1.0 * 8.0 + 3.0 * 10.0 + 5.0 * 12.0,
                2.0 * 7.0 + 4.0 * 9.0 + 6.0 * 11.0,
                2.0 * 8.0 + 4.0 * 10.0 + 6.0 * 12.0
            ]
        );
    }

    #[test]
    fn batches_and_shared_operands() {
        // Two batch entries: A and 2A, against a shared B.
        let lhs: Vec<f64> = A
            .iter()
            .chain(A.iter())
            .enumerate()
            .map(|(i, v)| if i < 6 { *v } else { 2.0 * v })
            .collect();
        let spec = MatmulSpec {
            rhs_batched: false,
            ..MatmulSpec::batched(2, 2, 3, 2)
        };
        let out = matmul(&lhs, &B, &spec).unwrap();
        assert_eq!(out[..4], AB);
        assert_eq!(out[4..], AB.map(|v| 2.0 * v));
        // A shared lhs against two right-hand sides, the second transposed storage of B
        // read as a plain one (a different matrix).
        let rhs: Vec<f64> = B.iter().chain(B_T.iter()).copied().collect();
        let spec = MatmulSpec {
            lhs_batched: false,
            ..MatmulSpec::batched(2, 2, 3, 2)
        };
        let out = matmul(&A, &rhs, &spec).unwrap();
        assert_eq!(out[..4], AB);
        // [[1,2,3],[4,5,6]] @ [[7,9],[11,8],[10,12]]
        assert_eq!(out[4..], [59.0, 61.0, 143.0, 148.0]);
    }

    #[test]
    fn f32_and_degenerate_sizes() {
        let a32: Vec<f32> = A.iter().map(|&v| v as f32).collect();
        let b32: Vec<f32> = B.iter().map(|&v| v as f32).collect();
        let out = matmul(&a32, &b32, &spec(false, false)).unwrap();
        assert_eq!(out, vec![58.0f32, 64.0, 139.0, 154.0]);
        // k = 0: a sum of nothing.
        assert_eq!(
            matmul::<f64>(&[], &[], &MatmulSpec::batched(1, 2, 0, 2)).unwrap(),
            vec![0.0; 4]
        );
        // batch = 0 with a shared operand: nothing to compute.
        let spec = MatmulSpec {
            rhs_batched: false,
            ..MatmulSpec::batched(0, 2, 3, 2)
        };
        assert!(matmul(&[], &B, &spec).unwrap().is_empty());
    }
}
