//! The kernel vocabulary of a backend: op tags and parameters, with the shape rules every
//! backend shares (so that all of them accept and reject the same inputs, with the same errors).

use crate::error::{Error, Result};
use crate::shape::Shape;

/// Elementwise functions of one operand. The exact definition of each is the contract every
/// backend implements; the reference backend evaluates the formula given here in f64.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UnaryOp {
    /// -x
    Neg,
    /// |x|
    Abs,
    /// -1, 0 or 1 (0 at 0): the derivative of `Abs` away from 0. NaN stays NaN.
    Sign,
    /// e^x
    Exp,
    /// ln x
    Log,
    /// sqrt x
    Sqrt,
    /// 1 / x
    Recip,
    /// x^2
    Square,
    /// sin x
    Sin,
    /// cos x
    Cos,
    /// tanh x
    Tanh,
    /// erf x
    Erf,
    /// 1 / (1 + e^-x)
    Sigmoid,
    /// max(x, 0), NaN stays NaN.
    Relu,
    /// 1 if x > 0 else 0 (so 0 at 0): the derivative mask of `Relu`. NaN stays NaN.
    Step,
    /// Exact GELU: x * Phi(x) = x/2 * (1 + erf(x / sqrt 2)).
    Gelu,
    /// The derivative of exact GELU: Phi(x) + x * phi(x), phi the standard normal density.
    GeluGrad,
    /// SiLU: x * sigmoid(x).
    Silu,
    /// The derivative of SiLU: sigmoid(x) * (1 + x * (1 - sigmoid(x))).
    SiluGrad,
    /// scale * x + shift, with the scalars rounded to the element type first.
    Affine {
        /// Multiplier.
        scale: f64,
        /// Added constant.
        shift: f64,
    },
    /// x^p (IEEE `pow`: NaN for negative x and non-integer p), with p rounded to the element type.
    Powf(f64),
}

impl UnaryOp {
    /// A short name for messages and benchmarks.
    pub fn name(&self) -> &'static str {
        match self {
            UnaryOp::Neg => "neg",
            UnaryOp::Abs => "abs",
            UnaryOp::Sign => "sign",
            UnaryOp::Exp => "exp",
            UnaryOp::Log => "log",
            UnaryOp::Sqrt => "sqrt",
            UnaryOp::Recip => "recip",
            UnaryOp::Square => "square",
            UnaryOp::Sin => "sin",
            UnaryOp::Cos => "cos",
            UnaryOp::Tanh => "tanh",
            UnaryOp::Erf => "erf",
            UnaryOp::Sigmoid => "sigmoid",
            UnaryOp::Relu => "relu",
            UnaryOp::Step => "step",
            UnaryOp::Gelu => "gelu",
            UnaryOp::GeluGrad => "gelu_grad",
            UnaryOp::Silu => "silu",
            UnaryOp::SiluGrad => "silu_grad",
            UnaryOp::Affine { .. } => "affine",
            UnaryOp::Powf(_) => "powf",
        }
    }

    /// Every op without a parameter, and one instance of each parameterized op.
    pub const ALL: [UnaryOp; 21] = [
        UnaryOp::Neg,
        UnaryOp::Abs,
        UnaryOp::Sign,
        UnaryOp::Exp,
        UnaryOp::Log,
        UnaryOp::Sqrt,
        UnaryOp::Recip,
        UnaryOp::Square,
        UnaryOp::Sin,
        UnaryOp::Cos,
        UnaryOp::Tanh,
        UnaryOp::Erf,
        UnaryOp::Sigmoid,
        UnaryOp::Relu,
        UnaryOp::Step,
        UnaryOp::Gelu,
        UnaryOp::GeluGrad,
        UnaryOp::Silu,
        UnaryOp::SiluGrad,
        UnaryOp::Affine {
            scale: 1.5,
            shift: -0.25,
        },
        UnaryOp::Powf(1.5),
    ];
}

/// Elementwise functions of two operands, with NumPy broadcasting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// a + b
    Add,
    /// a - b
    Sub,
    /// a * b
    Mul,
    /// a / b
    Div,
    /// The larger of a and b; NaN if either is NaN.
    Max,
    /// The smaller of a and b; NaN if either is NaN.
    Min,
    /// 1 if a == b else 0
    Eq,
    /// 1 if a != b else 0
    Ne,
    /// 1 if a < b else 0
    Lt,
    /// 1 if a <= b else 0
    Le,
    /// 1 if a > b else 0
    Gt,
    /// 1 if a >= b else 0
    Ge,
}

impl BinaryOp {
    /// A short name for messages.
    pub fn name(&self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::Max => "maximum",
            BinaryOp::Min => "minimum",
            BinaryOp::Eq => "eq",
            BinaryOp::Ne => "ne",
            BinaryOp::Lt => "lt",
            BinaryOp::Le => "le",
            BinaryOp::Gt => "gt",
            BinaryOp::Ge => "ge",
        }
    }

    /// Every binary op.
    pub const ALL: [BinaryOp; 12] = [
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Max,
        BinaryOp::Min,
        BinaryOp::Eq,
        BinaryOp::Ne,
        BinaryOp::Lt,
        BinaryOp::Le,
        BinaryOp::Gt,
        BinaryOp::Ge,
    ];
}

/// Reductions over a set of axes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    /// Sum of the elements.
    Sum,
    /// Arithmetic mean (the sum divided by the count).
    Mean,
    /// Largest element; NaN if any element is NaN. An empty reduction is an error.
    Max,
    /// Smallest element; NaN if any element is NaN. An empty reduction is an error.
    Min,
}

impl ReduceOp {
    /// A short name for messages.
    pub fn name(&self) -> &'static str {
        match self {
            ReduceOp::Sum => "sum",
            ReduceOp::Mean => "mean",
            ReduceOp::Max => "max",
            ReduceOp::Min => "min",
        }
    }

    /// Every reduction.
    pub const ALL: [ReduceOp; 4] = [ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max, ReduceOp::Min];

    /// The output shape (reduced axes kept as size 1), after checking the axes.
    pub fn output_shape(&self, shape: &Shape, axes: &[usize]) -> Result<Shape> {
        let out = shape.reduced(self.name(), axes)?;
        if matches!(self, ReduceOp::Max | ReduceOp::Min)
            && axes.iter().any(|&a| shape.dims()[a] == 0)
        {
            return Err(Error::invalid(
                self.name(),
                format!("cannot reduce an empty axis of shape {shape}"),
            ));
        }
        Ok(out)
    }
}

/// A batched matrix product `out[b] = op(lhs[b]) @ op(rhs[b])`, where `op` transposes when asked.
///
/// Storage layouts (row-major): `lhs` is `[batch, m, k]`, or `[batch, k, m]` when
/// `transpose_lhs`; `rhs` is `[batch, k, n]`, or `[batch, n, k]` when `transpose_rhs`; `out` is
/// `[batch, m, n]`. An operand that is not batched holds one matrix, shared by every batch entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MatmulSpec {
    /// Number of products.
    pub batch: usize,
    /// Rows of the output.
    pub m: usize,
    /// The contracted size.
    pub k: usize,
    /// Columns of the output.
    pub n: usize,
    /// Read `lhs` as `[k, m]` matrices and transpose them.
    pub transpose_lhs: bool,
    /// Read `rhs` as `[n, k]` matrices and transpose them.
    pub transpose_rhs: bool,
    /// `lhs` holds `batch` matrices (else one, shared).
    pub lhs_batched: bool,
    /// `rhs` holds `batch` matrices (else one, shared).
    pub rhs_batched: bool,
}

impl MatmulSpec {
    /// A plain batched product of `[batch, m, k]` by `[batch, k, n]`.
    pub fn batched(batch: usize, m: usize, k: usize, n: usize) -> Self {
        MatmulSpec {
            batch,
            m,
            k,
            n,
            transpose_lhs: false,
            transpose_rhs: false,
            lhs_batched: true,
            rhs_batched: true,
        }
    }

    /// Elements `lhs` must hold (saturating at `usize::MAX`).
    pub fn lhs_len(&self) -> usize {
        let batch = if self.lhs_batched { self.batch } else { 1 };
        self.m.saturating_mul(self.k).saturating_mul(batch)
    }

    /// Elements `rhs` must hold (saturating at `usize::MAX`).
    pub fn rhs_len(&self) -> usize {
        let batch = if self.rhs_batched { self.batch } else { 1 };
        self.k.saturating_mul(self.n).saturating_mul(batch)
    }

    /// Elements of the output (saturating at `usize::MAX`).
    pub fn out_len(&self) -> usize {
        self.batch.saturating_mul(self.m).saturating_mul(self.n)
    }

    /// Checks the operand lengths against the spec (and that no size overflows).
    pub fn check(&self, lhs_len: usize, rhs_len: usize) -> Result<()> {
        let sizes = [self.batch, self.m, self.k, self.n];
        let fits = |a: usize, b: usize, c: usize| a.checked_mul(b).and_then(|p| p.checked_mul(c));
        if fits(sizes[0], sizes[1], sizes[2]).is_none()
            || fits(sizes[0], sizes[2], sizes[3]).is_none()
            || fits(sizes[0], sizes[1], sizes[3]).is_none()
        {
            return Err(Error::invalid("matmul", "sizes overflow the address space"));
        }
        if lhs_len != self.lhs_len() {
            return Err(Error::StorageLength {
                op: "matmul (lhs)",
                expected: self.lhs_len(),
                actual: lhs_len,
            });
        }
        if rhs_len != self.rhs_len() {
            return Err(Error::StorageLength {
                op: "matmul (rhs)",
                expected: self.rhs_len(),
                actual: rhs_len,
            });
        }
        Ok(())
    }
}

/// Parameters of a 2-D convolution (cross-correlation, as in PyTorch) in NCHW.
///
/// Input `[N, C, H, W]`, weight `[O, C, KH, KW]`, output `[N, O, HO, WO]` with
/// `HO = (H + 2 ph - dh (KH - 1) - 1) / sh + 1` (floor), and likewise for W. Padding is zeros.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Conv2dParams {
    /// Step between output positions, (rows, columns); at least 1.
    pub stride: [usize; 2],
    /// Zeros added on each side, (rows, columns).
    pub padding: [usize; 2],
    /// Spacing between kernel taps, (rows, columns); at least 1.
    pub dilation: [usize; 2],
}

impl Default for Conv2dParams {
    fn default() -> Self {
        Conv2dParams {
            stride: [1, 1],
            padding: [0, 0],
            dilation: [1, 1],
        }
    }
}

impl Conv2dParams {
    /// Same stride, padding and dilation along both axes.
    pub fn new(stride: usize, padding: usize, dilation: usize) -> Self {
        Conv2dParams {
            stride: [stride; 2],
            padding: [padding; 2],
            dilation: [dilation; 2],
        }
    }

    /// Checks the shapes and returns the output shape `[N, O, HO, WO]`.
    pub fn output_shape(&self, input: &Shape, weight: &Shape) -> Result<Shape> {
        const OP: &str = "conv2d";
        let (x, w) = (input.dims(), weight.dims());
        if x.len() != 4 || w.len() != 4 {
            return Err(Error::shapes(
                OP,
                x,
                w,
                "input must be [N, C, H, W] and weight [O, C, KH, KW]",
            ));
        }
        check_positive(OP, "stride", self.stride)?;
        check_positive(OP, "dilation", self.dilation)?;
        if x[1] != w[1] {
            return Err(Error::shapes(
                OP,
                x,
                w,
                format!(
                    "input has {} channels but the weight expects {}",
                    x[1], w[1]
                ),
            ));
        }
        if w[2] == 0 || w[3] == 0 {
            return Err(Error::shapes(OP, x, w, "the kernel is empty"));
        }
        let mut out = [x[0], w[0], 0, 0];
        for axis in 0..2 {
            let padded = checked(
                OP,
                x[2 + axis].checked_add(self.padding[axis].saturating_mul(2)),
            )?;
            let span = checked(OP, self.dilation[axis].checked_mul(w[2 + axis] - 1))? + 1;
            if padded < span {
                return Err(Error::shapes(
                    OP,
                    x,
                    w,
                    format!(
                        "the dilated kernel spans {span} along axis {} but the padded input has only {padded}",
                        2 + axis
                    ),
                ));
            }
            out[2 + axis] = (padded - span) / self.stride[axis] + 1;
        }
        Ok(Shape::new(out))
    }

    /// Checks the shapes of a weight gradient and returns the weight's shape `[O, C, KH, KW]`:
    /// `input` is the convolution's input `[N, C, H, W]`, `grad` the gradient of (the first
    /// `HO' x WO'` pixels of) its output `[N, O, HO', WO']`, and `kernel` is `[KH, KW]`.
    ///
    /// ```
    /// use dualscore_core::Shape;
    /// use dualscore_core::backend::Conv2dParams;
    /// let p = Conv2dParams::new(2, 1, 1);
    /// let w = p.weight_grad_shape(&Shape::new([4, 3, 8, 8]), &Shape::new([4, 5, 4, 4]), [3, 3]);
    /// assert_eq!(w.unwrap().dims(), &[5, 3, 3, 3]);
    /// ```
    pub fn weight_grad_shape(
        &self,
        input: &Shape,
        grad: &Shape,
        kernel: [usize; 2],
    ) -> Result<Shape> {
        const OP: &str = "conv2d weight gradient";
        let (x, g) = (input.dims(), grad.dims());
        if x.len() != 4 || g.len() != 4 {
            return Err(Error::shapes(
                OP,
                x,
                g,
                "input must be [N, C, H, W] and the output gradient [N, O, HO, WO]",
            ));
        }
        if x[0] != g[0] {
            return Err(Error::shapes(
                OP,
                x,
                g,
                format!("input has {} images but the output gradient {}", x[0], g[0]),
            ));
        }
        if g[2] == 0 || g[3] == 0 {
            return Err(Error::shapes(OP, x, g, "the output gradient has no pixels"));
        }
        let weight = Shape::new([g[1], x[1], kernel[0], kernel[1]]);
        let out = self.output_shape(input, &weight)?;
        if g[2] > out.dims()[2] || g[3] > out.dims()[3] {
            return Err(Error::shapes(
                OP,
                x,
                g,
                format!(
                    "the output gradient is larger than the convolution's output {out} with a {}x{} kernel",
                    kernel[0], kernel[1]
                ),
            ));
        }
        Ok(weight)
    }
}

/// Parameters of a 2-D transposed convolution in NCHW: the adjoint of [`Conv2dParams`]'s
/// convolution with respect to its input.
///
/// Input `[N, Cin, H, W]`, weight `[Cin, Cout, KH, KW]` (PyTorch's layout), output
/// `[N, Cout, HO, WO]` with `HO = (H - 1) sh - 2 ph + dh (KH - 1) + oph + 1`. The output padding
/// must be smaller than the stride or the dilation along its axis, as in PyTorch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConvTranspose2dParams {
    /// Stride of the convolution this transposes.
    pub stride: [usize; 2],
    /// Padding of the convolution this transposes.
    pub padding: [usize; 2],
    /// Extra rows and columns added at the bottom and right of the output.
    pub output_padding: [usize; 2],
    /// Dilation of the convolution this transposes.
    pub dilation: [usize; 2],
}

impl Default for ConvTranspose2dParams {
    fn default() -> Self {
        ConvTranspose2dParams {
            stride: [1, 1],
            padding: [0, 0],
            output_padding: [0, 0],
            dilation: [1, 1],
        }
    }
}

impl ConvTranspose2dParams {
    /// Same stride, padding, output padding and dilation along both axes.
    pub fn new(stride: usize, padding: usize, output_padding: usize, dilation: usize) -> Self {
        ConvTranspose2dParams {
            stride: [stride; 2],
            padding: [padding; 2],
            output_padding: [output_padding; 2],
            dilation: [dilation; 2],
        }
    }

    /// The convolution whose input-adjoint this is.
    pub fn forward_conv(&self) -> Conv2dParams {
        Conv2dParams {
            stride: self.stride,
            padding: self.padding,
            dilation: self.dilation,
        }
    }

    /// Checks the shapes and returns the output shape `[N, Cout, HO, WO]`.
    pub fn output_shape(&self, input: &Shape, weight: &Shape) -> Result<Shape> {
        const OP: &str = "conv_transpose2d";
        let (x, w) = (input.dims(), weight.dims());
        if x.len() != 4 || w.len() != 4 {
            return Err(Error::shapes(
                OP,
                x,
                w,
                "input must be [N, Cin, H, W] and weight [Cin, Cout, KH, KW]",
            ));
        }
        check_positive(OP, "stride", self.stride)?;
        check_positive(OP, "dilation", self.dilation)?;
        if x[1] != w[0] {
            return Err(Error::shapes(
                OP,
                x,
                w,
                format!(
                    "input has {} channels but the weight expects {}",
                    x[1], w[0]
                ),
            ));
        }
        if w[2] == 0 || w[3] == 0 {
            return Err(Error::shapes(OP, x, w, "the kernel is empty"));
        }
        let mut out = [x[0], w[1], 0, 0];
        for axis in 0..2 {
            let op = self.output_padding[axis];
            if op >= self.stride[axis] && op >= self.dilation[axis] {
                return Err(Error::invalid(
                    OP,
                    format!(
                        "output padding {op} along axis {} must be smaller than the stride {} or the dilation {}",
                        2 + axis,
                        self.stride[axis],
                        self.dilation[axis]
                    ),
                ));
            }
            if x[2 + axis] == 0 {
                return Err(Error::shapes(
                    OP,
                    x,
                    w,
                    "the input has an empty spatial axis",
                ));
            }
            let full = (x[2 + axis] - 1)
                .checked_mul(self.stride[axis])
                .and_then(|a| Some((a, self.dilation[axis].checked_mul(w[2 + axis] - 1)?)))
                .and_then(|(a, b)| a.checked_add(b)?.checked_add(op)?.checked_add(1));
            let full = checked(OP, full)?;
            let cut = checked(OP, self.padding[axis].checked_mul(2))?;
            if full <= cut {
                return Err(Error::shapes(
                    OP,
                    x,
                    w,
                    format!(
                        "padding {} removes the whole output along axis {}",
                        self.padding[axis],
                        2 + axis
                    ),
                ));
            }
            out[2 + axis] = full - cut;
        }
        Ok(Shape::new(out))
    }
}

/// The value of a size computation, or an error when it overflowed.
fn checked(op: &'static str, value: Option<usize>) -> Result<usize> {
    value.ok_or_else(|| Error::invalid(op, "sizes overflow the address space"))
}

fn check_positive(op: &'static str, what: &str, values: [usize; 2]) -> Result<()> {
    if values.contains(&0) {
        return Err(Error::invalid(
            op,
            format!("{what} must be at least 1, got {values:?}"),
        ));
    }
    Ok(())
}

/// Checks the parts of a concatenation along `axis` and returns the output shape.
pub fn concat_shape(shapes: &[&Shape], axis: usize) -> Result<Shape> {
    const OP: &str = "concat";
    let first = shapes
        .first()
        .ok_or_else(|| Error::invalid(OP, "nothing to concatenate"))?;
    first.dim(OP, axis)?;
    let mut dims = first.dims().to_vec();
    dims[axis] = 0;
    for s in shapes {
        let fits = s.rank() == first.rank()
            && (0..s.rank()).all(|a| a == axis || s.dims()[a] == first.dims()[a]);
        if !fits {
            return Err(Error::shapes(
                OP,
                first.dims(),
                s.dims(),
                format!("parts must agree on every axis but {axis}"),
            ));
        }
        dims[axis] = checked(OP, dims[axis].checked_add(s.dims()[axis]))?;
    }
    Ok(Shape::new(dims))
}

/// Checks a slice `start..start + len` along `axis` and returns the output shape.
pub fn slice_shape(shape: &Shape, axis: usize, start: usize, len: usize) -> Result<Shape> {
    let size = shape.dim("slice", axis)?;
    if start.checked_add(len).is_none_or(|end| end > size) {
        return Err(Error::invalid(
            "slice",
            format!(
                "range {start}..{} is outside axis {axis} of shape {shape}",
                start.saturating_add(len)
            ),
        ));
    }
    let mut dims = shape.dims().to_vec();
    dims[axis] = len;
    Ok(Shape::new(dims))
}

/// Checks zero padding (`(before, after)` per axis) and returns the output shape.
pub fn pad_shape(shape: &Shape, pads: &[(usize, usize)]) -> Result<Shape> {
    if pads.len() != shape.rank() {
        return Err(Error::invalid(
            "pad",
            format!(
                "{} (before, after) pairs given for shape {shape} of rank {}",
                pads.len(),
                shape.rank()
            ),
        ));
    }
    let dims = shape
        .dims()
        .iter()
        .zip(pads)
        .map(|(&d, &(b, a))| checked("pad", d.checked_add(b).and_then(|s| s.checked_add(a))))
        .collect::<Result<Vec<_>>>()?;
    Ok(Shape::new(dims))
}
