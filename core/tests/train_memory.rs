//! No leaks: training steps and a checkpoint round trip leave as many graph nodes and buffers
//! alive as before them. (One test per binary: the counters are process-wide.)

mod train_support;

use dualscore_core::autograd::live_nodes;
use dualscore_core::tensor::live_buffers;
use dualscore_core::train::Trainer;
use train_support::{R, Scratch, Tiny, TinyConfig, blobs, small_config};

#[test]
fn training_steps_free_their_graphs() {
    let scratch = Scratch::new("memory");
    let data = blobs::<f64>(8, 13);
    let tiny = TinyConfig::default();
    let mut run: Trainer<R, f64, Tiny<f64>, TinyConfig> =
        Trainer::new(Tiny::new(&tiny).unwrap(), tiny, small_config(100)).unwrap();
    // The first step creates the optimizer's state.
    run.step(&data).unwrap();
    let (nodes, buffers) = (live_nodes(), live_buffers());
    for _ in 0..4 {
        run.step(&data).unwrap();
    }
    run.save_checkpoint(scratch.path()).unwrap();
    assert_eq!(live_nodes(), nodes, "graph nodes leaked");
    assert_eq!(live_buffers(), buffers, "buffers leaked");
}
