//! The backward pass: one walk of the graph from outputs to the requested inputs.

use super::{Node, with_grad_mode};
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::scalar::Float;
use crate::tensor::Tensor;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Options of [`grad`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GradOptions {
    /// Record the backward pass, so the gradients can be differentiated again.
    pub create_graph: bool,
    /// Keep the graph's saved tensors after this pass (default: the value of `create_graph`),
    /// so that the same graph can be differentiated again.
    pub retain_graph: Option<bool>,
}

impl GradOptions {
    /// Gradients that are themselves on the graph (for second and higher order).
    pub fn create_graph() -> Self {
        GradOptions {
            create_graph: true,
            retain_graph: None,
        }
    }

    /// Plain gradients that keep the forward graph for another pass.
    pub fn retain_graph() -> Self {
        GradOptions {
            create_graph: false,
            retain_graph: Some(true),
        }
    }
}

/// Whether derivatives stay on the graph: the one choice of [`GradOptions`] that the energy and
/// score APIs ([`Energy::energy_gradients`], [`ScoreModel::score_terms`]) expose.
///
/// [`Energy::energy_gradients`]: crate::energy::Energy::energy_gradients
/// [`ScoreModel::score_terms`]: crate::energy::ScoreModel::score_terms
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Graph {
    /// The backward pass is recorded: the derivatives are tensors on the graph, so a loss made
    /// from them can be differentiated again (as training does, with respect to the weights).
    Keep,
    /// Plain derivatives, nothing recorded: the graph is released as the pass walks it.
    Drop,
}

impl Graph {
    /// Whether this is [`Graph::Keep`].
    pub fn is_keep(self) -> bool {
        self == Graph::Keep
    }
}

impl From<Graph> for GradOptions {
    fn from(graph: Graph) -> Self {
        match graph {
            Graph::Keep => GradOptions::create_graph(),
            Graph::Drop => GradOptions::default(),
        }
    }
}

/// The gradients of `sum(outputs)` (the sum of all their elements) with respect to `inputs`.
///
/// Only the paths from `inputs` to `outputs` are visited, and each backward rule computes only
/// the input gradients that lie on such a path. The result holds one fresh tensor per input (a
/// zero tensor where the input does not reach the outputs). Inputs may be any tensors that
/// require a gradient, not only leaves.
///
/// ```
/// use dualscore_core::autograd::{GradOptions, grad};
/// use dualscore_core::backend::reference::Reference;
/// use dualscore_core::tensor::Tensor;
/// # fn main() -> dualscore_core::Result<()> {
/// let x = Tensor::<_, f64>::from_f64(&Reference, &[3.0], [1])?.requiring_grad();
/// let y = x.powf(3.0)?; // y = x^3
/// let dy = grad(&[&y], &[&x], GradOptions::create_graph())?; // 3 x^2 = 27
/// let d2y = grad(&[&dy[0]], &[&x], GradOptions::default())?; // 6 x = 18
/// assert_eq!(dy[0].to_f64_vec()?, vec![27.0]);
/// assert!((d2y[0].to_f64_vec()?[0] - 18.0).abs() < 1e-12);
/// # Ok(()) }
/// ```
pub fn grad<B: Backend, T: Float>(
    outputs: &[&Tensor<B, T>],
    inputs: &[&Tensor<B, T>],
    options: GradOptions,
) -> Result<Vec<Tensor<B, T>>> {
    let seeds = outputs
        .iter()
        .map(|o| o.ones_like())
        .collect::<Result<Vec<_>>>()?;
    let seed_refs: Vec<&Tensor<B, T>> = seeds.iter().collect();
    grad_with_seeds(outputs, &seed_refs, inputs, options)
}

/// Vector-Jacobian products: the gradients of `sum_i <outputs[i], seeds[i]>` with respect to
/// `inputs`. `seeds[i]` has the shape of `outputs[i]`; seeds that require a gradient are
/// differentiated through when `create_graph` is set.
pub fn grad_with_seeds<B: Backend, T: Float>(
    outputs: &[&Tensor<B, T>],
    seeds: &[&Tensor<B, T>],
    inputs: &[&Tensor<B, T>],
    options: GradOptions,
) -> Result<Vec<Tensor<B, T>>> {
    if outputs.len() != seeds.len() {
        return Err(Error::invalid(
            "grad",
            format!("{} outputs but {} seeds", outputs.len(), seeds.len()),
        ));
    }
    for (i, (o, s)) in outputs.iter().zip(seeds).enumerate() {
        if o.shape() != s.shape() {
            return Err(Error::shapes(
                "grad",
                o.dims(),
                s.dims(),
                format!("seed {i} must have the shape of output {i}"),
            ));
        }
    }
    let mut requested: HashMap<u64, Vec<usize>> = HashMap::new();
    for (i, input) in inputs.iter().enumerate() {
        let node = input.node().ok_or_else(|| {
            Error::invalid(
                "grad",
                format!(
                    "input {i} (shape {}) does not require a gradient; make it with requiring_grad()",
                    input.shape()
                ),
            )
        })?;
        requested.entry(node.id).or_default().push(i);
    }
    let release = !options.retain_graph.unwrap_or(options.create_graph);

    with_grad_mode(options.create_graph, || {
        let order = topological_order(outputs)?;
        let needed = needed_nodes(&order, &requested)?;
        let mut pending: HashMap<u64, Tensor<B, T>> = HashMap::new();
        for (o, s) in outputs.iter().zip(seeds) {
            if let Some(node) = o.node().filter(|n| needed.contains(&n.id)) {
                accumulate(&mut pending, node.id, (*s).clone())?;
            }
        }
        let mut results: Vec<Option<Tensor<B, T>>> = vec![None; inputs.len()];
        for node in order.iter().rev() {
            if !needed.contains(&node.id) {
                continue;
            }
            let Some(g) = pending.remove(&node.id) else {
                continue;
            };
            if let Some(positions) = requested.get(&node.id) {
                for &p in positions {
                    results[p] = Some(g.clone());
                }
            }
            if node.is_leaf {
                continue;
            }
            let edges = node.edges()?;
            let Some(arity) = edges.iter().map(|(i, _)| i + 1).max() else {
                continue;
            };
            let mut needs = vec![false; arity];
            for (i, t) in &edges {
                needs[*i] = t.node().is_some_and(|n| needed.contains(&n.id));
            }
            if !needs.iter().any(|&n| n) {
                continue;
            }
            let input_grads = node.run_backward(&g, &needs, release)?;
            for (i, t) in edges {
                if !needs[i] {
                    continue;
                }
                let Some(gi) = input_grads[i].clone() else {
                    continue;
                };
                if gi.shape() != t.shape() {
                    return Err(Error::shapes(
                        "grad",
                        gi.dims(),
                        t.dims(),
                        format!(
                            "backward rule of '{}' gave input {i} a gradient of the wrong shape",
                            node.name
                        ),
                    ));
                }
                let id = t.node().map(|n| n.id).unwrap_or_default();
                accumulate(&mut pending, id, gi)?;
            }
        }
        results
            .into_iter()
            .zip(inputs)
            .map(|(g, input)| match g {
                Some(g) => Ok(g),
                None => input.detach().zeros_like(),
            })
            .collect()
    })
}

fn accumulate<B: Backend, T: Float>(
    pending: &mut HashMap<u64, Tensor<B, T>>,
    id: u64,
    g: Tensor<B, T>,
) -> Result<()> {
    let total = match pending.remove(&id) {
        Some(previous) => previous.add(&g)?,
        None => g,
    };
    pending.insert(id, total);
    Ok(())
}

type Frame<B, T> = (Arc<Node<B, T>>, Vec<Arc<Node<B, T>>>);

/// Nodes reachable from the outputs, each after all the nodes it was made from (post-order).
fn topological_order<B: Backend, T: Float>(
    outputs: &[&Tensor<B, T>],
) -> Result<Vec<Arc<Node<B, T>>>> {
    let mut order = Vec::new();
    let mut visited = HashSet::new();
    // Each entry: a node and the children still to visit.
    let mut stack: Vec<Frame<B, T>> = Vec::new();
    for output in outputs {
        let Some(root) = output.node() else { continue };
        if !visited.insert(root.id) {
            continue;
        }
        let children = child_nodes(root)?;
        stack.push((root.clone(), children));
        while let Some((_, children)) = stack.last_mut() {
            match children.pop() {
                Some(child) => {
                    if visited.insert(child.id) {
                        let grandchildren = child_nodes(&child)?;
                        stack.push((child, grandchildren));
                    }
                }
                None => {
                    let (node, _) = stack.pop().expect("stack is not empty");
                    order.push(node);
                }
            }
        }
    }
    Ok(order)
}

fn child_nodes<B: Backend, T: Float>(node: &Arc<Node<B, T>>) -> Result<Vec<Arc<Node<B, T>>>> {
    Ok(node
        .edges()?
        .into_iter()
        .filter_map(|(_, t)| t.node().cloned())
        .collect())
}

/// The nodes on a path to a requested input: requested ones and those made from a needed node.
fn needed_nodes<B: Backend, T: Float>(
    post_order: &[Arc<Node<B, T>>],
    requested: &HashMap<u64, Vec<usize>>,
) -> Result<HashSet<u64>> {
    let mut needed = HashSet::new();
    for node in post_order {
        if requested.contains_key(&node.id)
            || child_nodes(node)?.iter().any(|c| needed.contains(&c.id))
        {
            needed.insert(node.id);
        }
    }
    Ok(needed)
}
