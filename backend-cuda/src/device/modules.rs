//! The compiled kernels: one PTX module per kernel family, embedded at build time (see
//! `build.rs`), loaded when a device opens, and their functions looked up once each.

use super::driver::{Context, Function, Module};
use dualscore_core::Result;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// A kernel family: one `.cu` source, one PTX module.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Family {
    Elementwise,
    Reduce,
    Matmul,
    Conv,
    Layout,
    Random,
}

impl Family {
    const ALL: [Family; 6] = [
        Family::Elementwise,
        Family::Reduce,
        Family::Matmul,
        Family::Conv,
        Family::Layout,
        Family::Random,
    ];

    fn name(self) -> &'static str {
        match self {
            Family::Elementwise => "elementwise",
            Family::Reduce => "reduce",
            Family::Matmul => "matmul",
            Family::Conv => "conv",
            Family::Layout => "layout",
            Family::Random => "random",
        }
    }

    /// The family's PTX, as `build.rs` left it in `OUT_DIR`.
    fn ptx(self) -> &'static str {
        match self {
            Family::Elementwise => include_str!(concat!(env!("OUT_DIR"), "/elementwise.ptx")),
            Family::Reduce => include_str!(concat!(env!("OUT_DIR"), "/reduce.ptx")),
            Family::Matmul => include_str!(concat!(env!("OUT_DIR"), "/matmul.ptx")),
            Family::Conv => include_str!(concat!(env!("OUT_DIR"), "/conv.ptx")),
            Family::Layout => include_str!(concat!(env!("OUT_DIR"), "/layout.ptx")),
            Family::Random => include_str!(concat!(env!("OUT_DIR"), "/random.ptx")),
        }
    }
}

/// The loaded modules of one device and the functions looked up so far.
pub(crate) struct Kernels {
    functions: Mutex<HashMap<(Family, &'static str), Function>>,
    modules: Vec<(Family, Module)>,
}

impl Kernels {
    /// Loads every family's module into `context` (the driver compiles the PTX for the GPU).
    pub fn load(context: &Context) -> Result<Kernels> {
        context.make_current()?;
        let modules = Family::ALL
            .iter()
            .map(|&f| Ok((f, Module::load(f.name(), f.ptx())?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Kernels {
            functions: Mutex::new(HashMap::new()),
            modules,
        })
    }

    /// Kernel `name` of `family`.
    pub fn function(&self, family: Family, name: &'static str) -> Result<Function> {
        let mut functions = self
            .functions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(&f) = functions.get(&(family, name)) {
            return Ok(f);
        }
        let module = self
            .modules
            .iter()
            .find(|(f, _)| *f == family)
            .map(|(_, m)| m)
            .expect("every family's module is loaded");
        let function = module.function(name)?;
        functions.insert((family, name), function);
        Ok(function)
    }
}
