//! Behaviour of `grad`: any order, non-leaf inputs, pruning, released graphs, no-grad scopes.

use dualscore_core::autograd::{GradOptions, Graph, grad, no_grad};
use dualscore_core::backend::reference::Reference;
use dualscore_core::backend::{Conv2dParams, ConvTranspose2dParams};
use dualscore_core::energy::Energy;
use dualscore_core::rng::RngKey;
use dualscore_core::testing::Counting;
use dualscore_core::{Result, Tensor};

type T64 = Tensor<Reference, f64>;

fn t64(values: &[f64], shape: &[usize]) -> T64 {
    Tensor::from_f64(&Reference, values, shape.to_vec()).unwrap()
}

#[test]
fn derivatives_to_fourth_order() {
    // f(x) = x^2 sin(x): compare each derivative with its closed form.
    let x0 = 0.7_f64;
    let x = t64(&[x0], &[1]).requiring_grad();
    let mut current = x.square().unwrap().mul(&x.sin().unwrap()).unwrap();
    let (s, c) = (x0.sin(), x0.cos());
    let expected = [
        2.0 * x0 * s + x0 * x0 * c,
        2.0 * s + 4.0 * x0 * c - x0 * x0 * s,
        6.0 * c - 6.0 * x0 * s - x0 * x0 * c,
        -12.0 * s - 8.0 * x0 * c + x0 * x0 * s,
    ];
    for (order, want) in expected.iter().enumerate() {
        current = grad(&[&current], &[&x], GradOptions::create_graph()).unwrap()[0].clone();
        let got = current.to_scalar().unwrap();
        assert!(
            (got - want).abs() < 1e-12,
            "order {}: {got} vs {want}",
            order + 1
        );
    }
}

#[test]
fn gradient_with_respect_to_a_non_leaf() {
    let x = t64(&[1.0, 2.0], &[2]).requiring_grad();
    let h = x.exp().unwrap();
    let y = h.square().unwrap().sum_all().unwrap();
    let g = grad(&[&y], &[&h, &x], GradOptions::default()).unwrap();
    let hv = h.to_f64_vec().unwrap();
    assert_eq!(g[0].to_f64_vec().unwrap(), vec![2.0 * hv[0], 2.0 * hv[1]]);
    let gx = g[1].to_f64_vec().unwrap();
    for i in 0..2 {
        assert!((gx[i] - 2.0 * hv[i] * hv[i]).abs() < 1e-12);
    }
}

#[test]
fn unreachable_inputs_get_zero_and_constants_are_rejected() {
    let x = t64(&[1.0, 2.0], &[2]).requiring_grad();
    let unused = t64(&[5.0], &[1]).requiring_grad();
    let y = x.sum_all().unwrap();
    let g = grad(&[&y], &[&unused], GradOptions::default()).unwrap();
    assert_eq!(g[0].to_f64_vec().unwrap(), vec![0.0]);
    let constant = t64(&[1.0], &[1]);
    let err = grad(&[&y], &[&constant], GradOptions::default()).unwrap_err();
    assert!(
        err.to_string().contains("does not require a gradient"),
        "{err}"
    );
}

#[test]
fn a_released_graph_is_an_error_and_retain_keeps_it() {
    let x = t64(&[3.0], &[1]).requiring_grad();
    let y = x.exp().unwrap().sum_all().unwrap();
    grad(&[&y], &[&x], GradOptions::retain_graph()).unwrap();
    grad(&[&y], &[&x], GradOptions::default()).unwrap();
    let err = grad(&[&y], &[&x], GradOptions::default()).unwrap_err();
    assert!(err.to_string().contains("released"), "{err}");
}

#[test]
fn without_create_graph_nothing_is_recorded() {
    let x = t64(&[3.0, 4.0], &[2]).requiring_grad();
    let y = x.square().unwrap().sum_all().unwrap();
    let g = grad(&[&y], &[&x], GradOptions::default()).unwrap();
    assert!(!g[0].requires_grad());
    let y = x.square().unwrap().sum_all().unwrap();
    let g = grad(&[&y], &[&x], GradOptions::create_graph()).unwrap();
    assert!(g[0].requires_grad());
    let z = no_grad(|| x.square().unwrap());
    assert!(!z.requires_grad());
    assert!(!x.detach().requires_grad());
}

#[test]
fn relu_derivative_at_zero_is_zero_and_max_ties_go_to_the_left_operand() {
    let x = t64(&[-1.0, 0.0, 2.0], &[3]).requiring_grad();
    let g = grad(&[&x.relu().unwrap()], &[&x], GradOptions::default()).unwrap();
    assert_eq!(g[0].to_f64_vec().unwrap(), vec![0.0, 0.0, 1.0]);
    let a = t64(&[1.0, 2.0], &[2]).requiring_grad();
    let b = t64(&[1.0, 3.0], &[2]).requiring_grad();
    let m = a.maximum(&b).unwrap();
    let g = grad(&[&m], &[&a, &b], GradOptions::default()).unwrap();
    assert_eq!(g[0].to_f64_vec().unwrap(), vec![1.0, 0.0]);
    assert_eq!(g[1].to_f64_vec().unwrap(), vec![0.0, 1.0]);
}

/// Three convolutions (one strided, one transposed): the energy gradient must cost exactly one
/// input-gradient convolution per layer and no weight gradient, with or without recording it.
#[test]
fn the_energy_gradient_computes_no_weight_gradient() {
    let backend = Counting::new(Reference);
    let key = RngKey::new(1, 0);
    let w1 = Tensor::<_, f64>::randn(&backend, [4, 1, 3, 3], key, 0)
        .unwrap()
        .requiring_grad();
    let w2 = Tensor::randn(&backend, [4, 4, 2, 2], key, 100)
        .unwrap()
        .requiring_grad();
    let w3 = Tensor::randn(&backend, [4, 1, 2, 2], key, 200)
        .unwrap()
        .requiring_grad();
    let energy = |y: &Tensor<_, f64>, t: &Tensor<_, f64>| -> Result<Tensor<_, f64>> {
        let h = y.conv2d(&w1, &Conv2dParams::new(1, 1, 1))?.gelu()?;
        let h = h.conv2d(&w2, &Conv2dParams::new(2, 0, 1))?.relu()?;
        let s = h.conv_transpose2d(&w3, &ConvTranspose2dParams::new(2, 0, 0, 1))?;
        let gain = t.add_scalar(1.0)?.reshape([t.dims()[0], 1, 1, 1])?;
        y.mul(&s.mul(&gain)?)?.sum(&[1, 2, 3], false)?.scale(0.5)
    };
    let y = Tensor::randn(&backend, [2, 1, 6, 6], key, 300).unwrap();
    let t = Tensor::from_f64(&backend, &[0.1, 2.0], [2]).unwrap();
    for graph in [Graph::Drop, Graph::Keep] {
        backend.counts.reset();
        let g = energy.energy_gradients(&y, &t, graph).unwrap();
        let (conv, conv_t, _, _) = backend.counts.snapshot();
        // Forward: 2 conv2d + 1 conv_transpose2d. Backward to y only: each layer's input
        // gradient (conv2d <-> conv_transpose2d), no weight gradient.
        assert_eq!((conv, conv_t), (2 + 1, 1 + 2), "{graph:?}");
        assert_eq!(g.grad_y.dims(), &[2, 1, 6, 6]);
        // Now differentiate through the energy gradient to the weights: that needs them.
        if graph.is_keep() {
            let s = g.grad_y.square().unwrap().sum_all().unwrap();
            backend.counts.reset();
            grad(&[&s], &[&w1, &w2, &w3], GradOptions::default()).unwrap();
            let (conv, conv_t, _, _) = backend.counts.snapshot();
            assert!(
                conv + conv_t >= 9,
                "second pass used {conv} + {conv_t} convolutions"
            );
        }
    }
}

#[test]
fn operators_return_errors_instead_of_panicking() {
    let a = t64(&[1.0, 2.0, 3.0], &[3]);
    let b = t64(&[1.0, 2.0], &[2]);
    assert!((&a + &b).is_err());
    assert!((&a * 2.0).is_ok());
    assert!(a.reshape([2, 2]).is_err());
    assert!(a.matmul(&b).is_err());
    assert!(a.sum(&[1], false).is_err());
    assert!(a.permute(&[0, 0]).is_err());
    assert!(a.slice(0, 2, 2).is_err());
    assert!(Tensor::<Reference, f64>::concat(&[], 0).is_err());
    assert!(a.to_scalar().is_err());
}

/// A second-order gradient through GELU: the second backward pass reuses GELU's derivative
/// (and SiLU's, likewise)
/// from the first (one `gelu_grad` kernel, not two) and the result is the closed form
/// `d/dw sum_i (w GELU'(w x_i))^2 = sum_i 2 w GELU'^2 + 2 w^2 x_i GELU' GELU''`.
#[test]
fn the_second_backward_through_gelu_reuses_its_derivative() {
    use dualscore_core::backend::profiled::Profiled;
    let backend = Profiled::new(Reference);
    let xs = [-1.5, -0.2, 0.3, 2.0];
    let x = Tensor::<_, f64>::from_f64(&backend, &xs, [4])
        .unwrap()
        .requiring_grad();
    let w = Tensor::<_, f64>::from_f64(&backend, &[0.7], [1])
        .unwrap()
        .requiring_grad();
    let f = x.mul(&w).unwrap().gelu().unwrap().sum_all().unwrap();
    let gx = grad(&[&f], &[&x], GradOptions::create_graph())
        .unwrap()
        .remove(0);
    let s = gx.square().unwrap().sum_all().unwrap();
    let gw = grad(&[&s], &[&w], GradOptions::default())
        .unwrap()
        .remove(0);
    let calls = |kind: &str| {
        let entries = backend.profile.entries();
        entries
            .iter()
            .find(|(k, _)| k == kind)
            .map_or(0, |(_, t)| t.calls)
    };
    assert_eq!(calls("unary gelu_grad"), 1);
    let phi = |u: f64| (-0.5 * u * u).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let big_phi = |u: f64| 0.5 * (1.0 + libm::erf(u / std::f64::consts::SQRT_2));
    let w0 = 0.7;
    let want: f64 = xs
        .iter()
        .map(|&xi| {
            let u = w0 * xi;
            let d1 = big_phi(u) + u * phi(u);
            let d2 = phi(u) * (2.0 - u * u);
            2.0 * w0 * d1 * d1 + 2.0 * w0 * w0 * xi * d1 * d2
        })
        .sum();
    let got = gw.to_f64_vec().unwrap()[0];
    assert!((got - want).abs() <= 1e-12 * want.abs(), "{got} vs {want}");
    // SiLU's rule keeps its derivative the same way.
    let f = x.mul(&w).unwrap().silu().unwrap().sum_all().unwrap();
    let gx = grad(&[&f], &[&x], GradOptions::create_graph())
        .unwrap()
        .remove(0);
    let s = gx.square().unwrap().sum_all().unwrap();
    grad(&[&s], &[&w], GradOptions::default()).unwrap();
    assert_eq!(calls("unary silu_grad"), 1);
}
