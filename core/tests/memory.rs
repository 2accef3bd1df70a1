//! No leaks: a whole dual-loss training step leaves as many graph nodes and buffers alive as
//! before it. (One test per binary: the counters are process-wide.)

use dualscore_core::autograd::{GradOptions, grad, live_nodes, no_grad};
use dualscore_core::backend::Conv2dParams;
use dualscore_core::backend::reference::Reference;
use dualscore_core::rng::RngKey;
use dualscore_core::tensor::live_buffers;
use dualscore_core::train::{Objective, score_matching_loss};
use dualscore_core::{Result, Tensor};

type T64 = Tensor<Reference, f64>;

#[test]
fn a_dual_loss_step_frees_its_whole_graph() {
    let key = RngKey::new(5, 0);
    let mut w1 = T64::randn(&Reference, [3, 1, 3, 3], key, 0)
        .unwrap()
        .requiring_grad();
    let mut w2 = T64::randn(&Reference, [1, 3, 3, 3], key, 50)
        .unwrap()
        .requiring_grad();
    let x = T64::rand(&Reference, [2, 1, 5, 5], key, 100).unwrap();
    let t = T64::from_f64(&Reference, &[0.01, 1.0], [2]).unwrap();
    let z = T64::randn(&Reference, [2, 1, 5, 5], key, 200).unwrap();

    let step = |w1: &mut T64, w2: &mut T64| {
        let energy = |y: &T64, t: &T64| -> Result<T64> {
            let h = y.conv2d(w1, &Conv2dParams::new(1, 1, 1))?;
            let h = h.mul(&t.exp()?.reshape([2, 1, 1, 1])?)?.tanh()?;
            let s = h.conv2d(w2, &Conv2dParams::new(1, 1, 1))?;
            y.mul(&s)?.sum(&[1, 2, 3], false)?.scale(0.5)
        };
        let loss = score_matching_loss(&energy, &x, &t, &z, Objective::Dual).unwrap();
        let g = grad(&[&loss.loss], &[&*w1, &*w2], GradOptions::default()).unwrap();
        let (n1, n2) = no_grad(|| {
            (
                w1.sub(&g[0].scale(0.01).unwrap()).unwrap(),
                w2.sub(&g[1].scale(0.01).unwrap()).unwrap(),
            )
        });
        *w1 = n1.requiring_grad();
        *w2 = n2.requiring_grad();
    };

    step(&mut w1, &mut w2);
    let (nodes, buffers) = (live_nodes(), live_buffers());
    for _ in 0..3 {
        step(&mut w1, &mut w2);
    }
    assert_eq!(live_nodes(), nodes, "graph nodes leaked");
    assert_eq!(live_buffers(), buffers, "buffers leaked");
}
