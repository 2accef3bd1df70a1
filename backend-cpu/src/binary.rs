//! Binary elementwise kernels with NumPy broadcasting.
//!
//! Three paths: operands of the output's layout (zip), one operand a single element (a scalar
//! loop), and general broadcasting through a strided [`Plan`] whose innermost row is
//! specialized by the operands' strides along it.

use crate::par::CHUNK;
use crate::strided::{Plan, strides};
use crate::{Cpu, written_in_chunks, zeroed};
use dualscore_core::backend::BinaryOp;
use dualscore_core::backend::validate::Output;
use dualscore_core::{Float, Result, Shape};

/// `op` on the broadcast of `lhs` and `rhs`; `output` is the broadcast, from
/// [`validate::binary`](dualscore_core::backend::validate::binary).
pub(crate) fn binary<T: Float>(
    cpu: &Cpu,
    op: BinaryOp,
    lhs: &[T],
    lhs_shape: &Shape,
    rhs: &[T],
    rhs_shape: &Shape,
    output: &Output,
) -> Result<Vec<T>> {
    let args = Args {
        cpu,
        lhs,
        rhs,
        lhs_shape,
        rhs_shape,
        out_shape: &output.shape,
    };
    let (zero, one) = (T::zero(), T::one());
    let flag = move |b: bool| if b { one } else { zero };
    match op {
        BinaryOp::Add => args.apply(output.len, |a, b| a + b),
        BinaryOp::Sub => args.apply(output.len, |a, b| a - b),
        BinaryOp::Mul => args.apply(output.len, |a, b| a * b),
        BinaryOp::Div => args.apply(output.len, |a, b| a / b),
        BinaryOp::Max => args.apply(output.len, max_nan),
        BinaryOp::Min => args.apply(output.len, min_nan),
        BinaryOp::Eq => args.apply(output.len, move |a, b| flag(a == b)),
        BinaryOp::Ne => args.apply(output.len, move |a, b| flag(a != b)),
        BinaryOp::Lt => args.apply(output.len, move |a, b| flag(a < b)),
        BinaryOp::Le => args.apply(output.len, move |a, b| flag(a <= b)),
        BinaryOp::Gt => args.apply(output.len, move |a, b| flag(a > b)),
        BinaryOp::Ge => args.apply(output.len, move |a, b| flag(a >= b)),
    }
}

/// The larger of `a` and `b`, NaN if either is NaN.
#[inline]
pub(crate) fn max_nan<T: Float>(a: T, b: T) -> T {
    if a.is_nan() || b.is_nan() {
        T::nan()
    } else if a >= b {
        a
    } else {
        b
    }
}

/// The smaller of `a` and `b`, NaN if either is NaN.
#[inline]
pub(crate) fn min_nan<T: Float>(a: T, b: T) -> T {
    if a.is_nan() || b.is_nan() {
        T::nan()
    } else if a <= b {
        a
    } else {
        b
    }
}

struct Args<'a, T> {
    cpu: &'a Cpu,
    lhs: &'a [T],
    rhs: &'a [T],
    lhs_shape: &'a Shape,
    rhs_shape: &'a Shape,
    out_shape: &'a Shape,
}

impl<T: Float> Args<'_, T> {
    /// `f` on every pair of the broadcast, an output of `n` elements.
    fn apply<F: Fn(T, T) -> T + Sync + Send>(&self, n: usize, f: F) -> Result<Vec<T>> {
        let (l, r, cpu) = (self.lhs, self.rhs, self.cpu);
        if l.len() == n && r.len() == n {
            // Same layout as the output (equal shapes up to size-1 axes).
            // SAFETY: the loop writes every element of the piece, from operand slices of its
            // length.
            unsafe {
                written_in_chunks(cpu, n, |i, piece| {
                    let (l, r) = (
                        &l[i * CHUNK..][..piece.len()],
                        &r[i * CHUNK..][..piece.len()],
                    );
                    for ((o, &a), &b) in piece.iter_mut().zip(l).zip(r) {
                        o.write(f(a, b));
                    }
                })
            }
        } else if l.len() == n && r.len() == 1 {
            let b = r[0];
            // SAFETY: `l` has `n` elements, so from the piece's start on it is at least as long
            // as the piece, and the loop writes every element of the piece.
            unsafe {
                written_in_chunks(cpu, n, |i, piece| {
                    for (o, &a) in piece.iter_mut().zip(&l[i * CHUNK..]) {
                        o.write(f(a, b));
                    }
                })
            }
        } else if l.len() == 1 && r.len() == n {
            let a = l[0];
            // SAFETY: as above, with `r`.
            unsafe {
                written_in_chunks(cpu, n, |i, piece| {
                    for (o, &b) in piece.iter_mut().zip(&r[i * CHUNK..]) {
                        o.write(f(a, b));
                    }
                })
            }
        } else {
            let mut out = zeroed::<T>(n)?;
            if n > 0 {
                self.broadcast(&mut out, f);
            }
            Ok(out)
        }
    }

    fn broadcast<F: Fn(T, T) -> T + Sync + Send>(&self, out: &mut [T], f: F) {
        let dims = self.out_shape.dims();
        let ls = broadcast_strides(self.lhs_shape, self.out_shape);
        let rs = broadcast_strides(self.rhs_shape, self.out_shape);
        let strides: Vec<[isize; 2]> = ls.iter().zip(&rs).map(|(&a, &b)| [a, b]).collect();
        let plan = Plan::new(dims, &strides, [0, 0]);
        let [sl, sr] = plan.row_strides();
        let (l, r) = (self.lhs, self.rhs);
        plan.fill_rows(self.cpu, out, |row, [ol, or]| {
            let (ol, or) = (ol as usize, or as usize);
            let len = row.len();
            match (sl, sr) {
                (1, 1) => {
                    for ((o, &a), &b) in row.iter_mut().zip(&l[ol..ol + len]).zip(&r[or..or + len])
                    {
                        *o = f(a, b);
                    }
                }
                (1, 0) => {
                    let b = r[or];
                    for (o, &a) in row.iter_mut().zip(&l[ol..ol + len]) {
                        *o = f(a, b);
                    }
                }
                (0, 1) => {
                    let a = l[ol];
                    for (o, &b) in row.iter_mut().zip(&r[or..or + len]) {
                        *o = f(a, b);
                    }
                }
                _ => {
                    let (mut pl, mut pr) = (ol as isize, or as isize);
                    for o in row.iter_mut() {
                        *o = f(l[pl as usize], r[pr as usize]);
                        pl += sl;
                        pr += sr;
                    }
                }
            }
        });
    }
}

/// Strides (in elements, `isize`) for reading `shape` broadcast to `target`: 0 on broadcast
/// axes. `shape` has a non-zero element count that fits in memory.
pub(crate) fn broadcast_strides(shape: &Shape, target: &Shape) -> Vec<isize> {
    let own = strides(shape.dims());
    let offset = target.rank() - shape.rank();
    (0..target.rank())
        .map(|axis| {
            if axis < offset || shape.dims()[axis - offset] == 1 {
                0
            } else {
                own[axis - offset]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{buf, cpu, reference_close};
    use dualscore_core::Backend;
    use dualscore_core::backend::reference::Reference;

    fn data(n: usize, seed: f64) -> Vec<f64> {
        (0..n)
            .map(|i| ((i as f64 + seed) * 0.731).sin() * 3.0)
            .collect()
    }

    #[test]
    fn every_path_matches_the_reference() {
        let cpu = cpu(2);
        let cases: [(&[usize], &[usize]); 8] = [
            (&[3, 4], &[3, 4]),
            (&[70, 300], &[70, 300]),
            (&[70, 300], &[]),
            (&[1, 1], &[70, 300]),
            (&[7, 1, 5], &[3, 1]),
            (&[64, 32, 9, 9], &[1, 32, 1, 1]),
            (&[64, 32, 9, 9], &[64, 32, 1, 9]),
            (&[5, 1], &[1, 5]),
        ];
        for (a, b) in cases {
            let (sa, sb) = (Shape::new(a), Shape::new(b));
            let (x, y) = (data(sa.numel(), 0.0), data(sb.numel(), 1.0));
            for op in BinaryOp::ALL {
                let got = cpu.binary(op, &buf(&x), &sa, &buf(&y), &sb).unwrap();
                let want = Reference.binary(op, &x, &sa, &y, &sb).unwrap();
                reference_close(op.name(), &got, &want, 0.0);
                let got = cpu.binary(op, &buf(&y), &sb, &buf(&x), &sa).unwrap();
                let want = Reference.binary(op, &y, &sb, &x, &sa).unwrap();
                reference_close(op.name(), &got, &want, 0.0);
            }
        }
    }

    #[test]
    fn nan_propagates_through_max_and_min() {
        let cpu = cpu(1);
        let s = Shape::new([3]);
        let a = buf(&[1.0f32, f32::NAN, 2.0]);
        let b = buf(&[f32::NAN, 0.0, 1.0]);
        let m = cpu.binary(BinaryOp::Max, &a, &s, &b, &s).unwrap();
        assert!(m[0].is_nan() && m[1].is_nan() && m[2] == 2.0);
        let m = cpu.binary(BinaryOp::Min, &a, &s, &b, &s).unwrap();
        assert!(m[0].is_nan() && m[1].is_nan() && m[2] == 1.0);
    }

    #[test]
    fn bad_shapes_are_errors() {
        let cpu = cpu(1);
        let x = buf(&[1.0f64; 6]);
        let err = cpu.binary(
            BinaryOp::Add,
            &x,
            &Shape::new([2, 3]),
            &x,
            &Shape::new([3, 2]),
        );
        assert!(err.is_err());
        let err = cpu.binary(
            BinaryOp::Add,
            &x,
            &Shape::new([2, 2]),
            &x,
            &Shape::new([2, 3]),
        );
        assert!(err.is_err());
        let empty = buf::<f64>(&[]);
        let huge = Shape::new([usize::MAX, usize::MAX, 0]);
        let out = cpu.binary(
            BinaryOp::Add,
            &empty,
            &huge,
            &buf(&x[..1]),
            &Shape::scalar(),
        );
        assert_eq!(out.unwrap().len(), 0);
    }
}
