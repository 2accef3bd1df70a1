//! Reverse-mode automatic differentiation to any order.
//!
//! Every tensor that requires a gradient carries a node: a leaf, or the record of the op
//! that made it (its input tensors and a [`BackwardOp`]). [`grad`] walks the graph once, from
//! the outputs back to the requested inputs, and visits only the nodes on a path between them.
//! Every backward rule is written with tensor ops, so with [`GradOptions::create_graph`] the
//! gradients are themselves recorded and can be differentiated again.
//!
//! Memory: nodes hold their inputs strongly and their output weakly (a rule that needs its own
//! output, such as exp, upgrades the weak handle), so a graph has no reference cycles and is
//! freed as soon as the last tensor that reaches it is dropped. Without `retain_graph` each
//! node's saved tensors are released as soon as its backward rule has run.

mod grad;
mod mode;

pub use grad::{GradOptions, Graph, grad, grad_with_seeds};
pub use mode::{GradModeGuard, carry_grad_mode, is_grad_enabled, no_grad, with_grad_mode};

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::scalar::Float;
use crate::tensor::{Tensor, TensorInner};
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, Weak};

static LIVE_NODES: AtomicUsize = AtomicUsize::new(0);
static NEXT_NODE_ID: AtomicU64 = AtomicU64::new(0);

/// The number of graph nodes alive in this process (for leak tests).
pub fn live_nodes() -> usize {
    LIVE_NODES.load(Ordering::SeqCst)
}

/// A backward rule: given the gradient of the op's output, the gradients of its inputs.
pub trait BackwardOp<B: Backend, T: Float>: Send + Sync {
    /// The op's name, for error messages and graph dumps.
    fn name(&self) -> &'static str;

    /// Computes the gradient of each input that `needs` marks, with tensor ops. `inputs` are the
    /// op's inputs, `output` its output (when still alive). Entries not needed may be `None`.
    fn backward(
        &self,
        inputs: &[Tensor<B, T>],
        output: Option<&Tensor<B, T>>,
        grad: &Tensor<B, T>,
        needs: &[bool],
    ) -> Result<Vec<Option<Tensor<B, T>>>>;
}

/// The record of how a tensor was made.
pub(crate) struct Node<B: Backend, T: Float> {
    pub(crate) id: u64,
    pub(crate) name: &'static str,
    /// `None` for a leaf, and for a node whose saved state was released.
    pub(crate) state: Mutex<Option<NodeState<B, T>>>,
    pub(crate) is_leaf: bool,
    pub(crate) output: Weak<TensorInner<B, T>>,
}

pub(crate) struct NodeState<B: Backend, T: Float> {
    pub(crate) inputs: Vec<Tensor<B, T>>,
    pub(crate) op: Box<dyn BackwardOp<B, T>>,
}

impl<B: Backend, T: Float> Node<B, T> {
    pub(crate) fn leaf(output: Weak<TensorInner<B, T>>) -> Self {
        Self::make("leaf", None, true, output)
    }

    pub(crate) fn op(
        op: Box<dyn BackwardOp<B, T>>,
        inputs: Vec<Tensor<B, T>>,
        output: Weak<TensorInner<B, T>>,
    ) -> Self {
        let name = op.name();
        Self::make(name, Some(NodeState { inputs, op }), false, output)
    }

    fn make(
        name: &'static str,
        state: Option<NodeState<B, T>>,
        is_leaf: bool,
        output: Weak<TensorInner<B, T>>,
    ) -> Self {
        LIVE_NODES.fetch_add(1, Ordering::SeqCst);
        Node {
            id: NEXT_NODE_ID.fetch_add(1, Ordering::Relaxed),
            name,
            state: Mutex::new(state),
            is_leaf,
            output,
        }
    }

    /// The input tensors that require a gradient, with their positions (empty for a leaf), or
    /// an error when the node's saved state was released by an earlier pass.
    pub(crate) fn edges(&self) -> Result<Vec<(usize, Tensor<B, T>)>> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match state.as_ref() {
            None if self.is_leaf => Ok(Vec::new()),
            None => Err(self.released_error()),
            Some(s) => Ok(s
                .inputs
                .iter()
                .enumerate()
                .filter(|(_, t)| t.requires_grad())
                .map(|(i, t)| (i, t.clone()))
                .collect()),
        }
    }

    fn released_error(&self) -> Error {
        Error::invalid(
            "grad",
            format!(
                "the graph through '{}' was released by an earlier grad call; pass retain_graph to differentiate twice",
                self.name
            ),
        )
    }

    pub(crate) fn run_backward(
        &self,
        grad: &Tensor<B, T>,
        needs: &[bool],
        release: bool,
    ) -> Result<Vec<Option<Tensor<B, T>>>> {
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let state = guard.as_ref().ok_or_else(|| self.released_error())?;
        let output = self.output.upgrade().map(Tensor::from_inner);
        let grads = state
            .op
            .backward(&state.inputs, output.as_ref(), grad, needs)?;
        if grads.len() != state.inputs.len() {
            return Err(Error::invalid(
                "grad",
                format!(
                    "backward rule of '{}' returned {} gradients for {} inputs",
                    self.name,
                    grads.len(),
                    state.inputs.len()
                ),
            ));
        }
        if release {
            *guard = None;
        }
        Ok(grads)
    }
}

impl<B: Backend, T: Float> Drop for Node<B, T> {
    fn drop(&mut self) {
        LIVE_NODES.fetch_sub(1, Ordering::SeqCst);
    }
}

impl<B: Backend, T: Float> fmt::Debug for Node<B, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Node({} #{})", self.name, self.id)
    }
}
