//! [`Backend::run`]: a closure run "where the kernels are cheapest to call" returns its result,
//! sees the caller's autodiff recording mode, nests, and computes what it would compute outside.

use crate::harness::{Input, check, dev_run};
use crate::strategies::{matmul_case, seeded};
use crate::tolerance::assert_same_bits;
use dualscore_core::autograd::{GradOptions, grad, is_grad_enabled, no_grad};
use dualscore_core::{Backend, Float, Tensor};

/// `run` returns the closure's value and carries the recording mode (on, off, and nested
/// calls); a matmul and a second-order gradient computed inside equal, bit for bit, the same
/// computed outside.
pub fn run_closures<B: Backend, T: Float>(backend: &B) {
    assert_eq!(backend.run(|| 7), 7, "run returns the closure's value");
    assert!(backend.run(is_grad_enabled), "recording is on inside run");
    assert!(
        !no_grad(|| backend.run(is_grad_enabled)),
        "run inside no_grad records nothing"
    );
    assert!(
        !backend.run(|| no_grad(|| backend.run(|| backend.run(is_grad_enabled)))),
        "nested runs keep no_grad"
    );

    check(
        &format!("run: matmul inside equals outside ({})", T::DTYPE),
        matmul_case(),
        |case| {
            let s = case.spec;
            let what = format!("matmul {s:?} ({})", T::DTYPE);
            let l =
                Input::<T>::new(&seeded(case.kind, case.seed, 0, s.lhs_len())).upload(backend)?;
            let r =
                Input::<T>::new(&seeded(case.kind, case.seed, 1, s.rhs_len())).upload(backend)?;
            let outside = dev_run(backend, &what, s.out_len(), |b| b.matmul(&l, &r, &s))?;
            let inside =
                backend.run(|| dev_run(backend, &what, s.out_len(), |b| b.matmul(&l, &r, &s)))?;
            assert_same_bits(&what, &inside, &outside)
        },
    );

    let second_order = || -> dualscore_core::Result<Vec<f64>> {
        let x = Tensor::<B, T>::from_f64(backend, &[0.5, -1.25, 2.0], [3])?.requiring_grad();
        let y = x.mul(&x)?.mul(&x)?.sum_all()?;
        let dy = grad(&[&y], &[&x], GradOptions::create_graph())?.remove(0);
        let d2y = grad(&[&dy.sum_all()?], &[&x], GradOptions::default())?.remove(0);
        d2y.to_f64_vec()
    };
    let outside = second_order().expect("second order outside run");
    let inside = backend.run(second_order).expect("second order inside run");
    assert_eq!(
        inside.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        outside.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        "second-order gradient inside run differs from outside"
    );
    assert_eq!(
        outside,
        [3.0, -7.5, 12.0],
        "d2/dx2 of x^3 summed over one input is 6x"
    );
}
