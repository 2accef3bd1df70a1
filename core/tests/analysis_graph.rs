//! The measurements record nothing: run on an energy whose parameter requires a gradient, they
//! leave as many graph nodes and buffers alive as before, and give the values of the same
//! energy with the parameter detached. (One test per binary: the counters are process-wide.)

use dualscore_core::analysis::{
    ContrastOptions, DenoisingOptions, LocalDimensionOptions, SamplerOptions, contrast_curves,
    denoising, local_dimensionality, log_grid, sample,
};
use dualscore_core::autograd::live_nodes;
use dualscore_core::backend::reference::Reference;
use dualscore_core::rng::RngKey;
use dualscore_core::tensor::live_buffers;
use dualscore_core::{Result, Tensor};

type T64 = Tensor<Reference, f64>;

/// U(y, t) = 1/2 sum (y - w)^2 / (0.1 + t) + 2 ln(2 pi (0.1 + t)): N(w, 0.1 I) in d = 4.
fn energy(w: &T64) -> impl Fn(&T64, &T64) -> Result<T64> + '_ {
    move |y: &T64, t: &T64| {
        let n = y.dims()[0];
        let v = t.add_scalar(0.1)?.reshape([n, 1])?;
        let q = y.sub(w)?.square()?.div(&v)?.sum(&[1], false)?.scale(0.5)?;
        q.add(
            &v.reshape([n])?
                .scale(2.0 * std::f64::consts::PI)?
                .log()?
                .scale(2.0)?,
        )
    }
}

#[test]
fn measurements_keep_no_graph() -> Result<()> {
    let w = T64::from_f64(&Reference, &[0.2, 0.4, 0.6, 0.8], [4])?.requiring_grad();
    let w_plain = w.detach();
    let data = T64::rand(&Reference, [6, 4], RngKey::new(1, 0), 0)?;
    let run = |w: &T64| -> Result<Vec<f64>> {
        let u = energy(w);
        let den = denoising(
            &u,
            &data,
            &DenoisingOptions {
                batch_size: 4,
                ..Default::default()
            },
        )?;
        let dim = local_dimensionality(
            &u,
            &data,
            &LocalDimensionOptions {
                noise_variances: log_grid(1e-3, 10.0, 5)?,
                draws: 3,
                batch_size: 5,
                ..Default::default()
            },
        )?;
        let samples: T64 = sample(
            &u,
            &Reference,
            5,
            &[4],
            &SamplerOptions {
                steps: 10,
                batch_size: 2,
                ..Default::default()
            },
        )?;
        assert!(!samples.requires_grad());
        let curves = contrast_curves(&u, &data, &ContrastOptions::default())?;
        let mut out: Vec<f64> = den.levels.iter().map(|l| l.mse.mean).collect();
        out.extend(dim.mean_d_eff.iter().map(|e| e.mean));
        out.push(dim.immse_check.unwrap().difference_nats.mean);
        out.extend(samples.to_f64_vec()?);
        out.extend(curves.mean_log_p_db_per_dim);
        Ok(out)
    };
    let first = run(&w)?;
    let (nodes, buffers) = (live_nodes(), live_buffers());
    let second = run(&w)?;
    assert_eq!(live_nodes(), nodes, "graph nodes left alive");
    assert_eq!(live_buffers(), buffers, "buffers left alive");
    assert_eq!(first, second);
    assert_eq!(run(&w_plain)?, first);
    Ok(())
}
