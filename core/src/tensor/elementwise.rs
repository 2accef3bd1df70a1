//! Elementwise ops (one and two operands, with broadcasting) and their backward rules.

use super::Tensor;
use crate::autograd::{BackwardOp, is_grad_enabled};
use crate::backend::{Backend, BinaryOp, UnaryOp};
use crate::error::Result;
use crate::scalar::Float;
use crate::shape::Shape;
use std::f64::consts::{FRAC_2_SQRT_PI, PI};
use std::sync::OnceLock;

impl<B: Backend, T: Float> Tensor<B, T> {
    /// Applies an elementwise function. `Sign` and `Step` are piecewise constant: their results
    /// are never recorded (their derivative is 0 wherever it exists).
    pub fn unary(&self, op: UnaryOp) -> Result<Self> {
        let storage = self.backend().unary(op, self.storage())?;
        let inputs: &[&Self] = match op {
            UnaryOp::Sign | UnaryOp::Step => &[],
            _ => &[self],
        };
        Ok(Self::from_op(
            self.backend(),
            storage,
            self.shape().clone(),
            inputs,
            || UnaryBackward::new(op),
        ))
    }

    /// -x
    pub fn neg(&self) -> Result<Self> {
        self.unary(UnaryOp::Neg)
    }
    /// |x|; its derivative at 0 is taken as 0.
    pub fn abs(&self) -> Result<Self> {
        self.unary(UnaryOp::Abs)
    }
    /// -1, 0 or 1.
    pub fn sign(&self) -> Result<Self> {
        self.unary(UnaryOp::Sign)
    }
    /// e^x
    pub fn exp(&self) -> Result<Self> {
        self.unary(UnaryOp::Exp)
    }
    /// ln x
    pub fn log(&self) -> Result<Self> {
        self.unary(UnaryOp::Log)
    }
    /// sqrt x
    pub fn sqrt(&self) -> Result<Self> {
        self.unary(UnaryOp::Sqrt)
    }
    /// 1 / x
    pub fn recip(&self) -> Result<Self> {
        self.unary(UnaryOp::Recip)
    }
    /// x^2
    pub fn square(&self) -> Result<Self> {
        self.unary(UnaryOp::Square)
    }
    /// sin x
    pub fn sin(&self) -> Result<Self> {
        self.unary(UnaryOp::Sin)
    }
    /// cos x
    pub fn cos(&self) -> Result<Self> {
        self.unary(UnaryOp::Cos)
    }
    /// tanh x
    pub fn tanh(&self) -> Result<Self> {
        self.unary(UnaryOp::Tanh)
    }
    /// erf x
    pub fn erf(&self) -> Result<Self> {
        self.unary(UnaryOp::Erf)
    }
    /// 1 / (1 + e^-x)
    pub fn sigmoid(&self) -> Result<Self> {
        self.unary(UnaryOp::Sigmoid)
    }
    /// max(x, 0). Its derivative is the mask x > 0, so 0 at x = 0.
    pub fn relu(&self) -> Result<Self> {
        self.unary(UnaryOp::Relu)
    }
    /// 1 where x > 0, else 0 (a constant: not differentiated).
    pub fn step(&self) -> Result<Self> {
        self.unary(UnaryOp::Step)
    }
    /// Exact GELU, x Phi(x); differentiable to any order.
    pub fn gelu(&self) -> Result<Self> {
        self.unary(UnaryOp::Gelu)
    }
    /// The derivative of exact GELU, Phi(x) + x phi(x).
    pub fn gelu_grad(&self) -> Result<Self> {
        self.unary(UnaryOp::GeluGrad)
    }
    /// SiLU, x sigmoid(x).
    pub fn silu(&self) -> Result<Self> {
        self.unary(UnaryOp::Silu)
    }
    /// The derivative of SiLU.
    pub fn silu_grad(&self) -> Result<Self> {
        self.unary(UnaryOp::SiluGrad)
    }
    /// scale * x + shift.
    pub fn affine(&self, scale: f64, shift: f64) -> Result<Self> {
        self.unary(UnaryOp::Affine { scale, shift })
    }
    /// scale * x.
    pub fn scale(&self, scale: f64) -> Result<Self> {
        self.affine(scale, 0.0)
    }
    /// x + shift.
    pub fn add_scalar(&self, shift: f64) -> Result<Self> {
        self.affine(1.0, shift)
    }
    /// x^p.
    pub fn powf(&self, p: f64) -> Result<Self> {
        self.unary(UnaryOp::Powf(p))
    }

    /// Applies a two-operand function to the NumPy broadcast of `self` and `rhs`. Comparisons
    /// give 0/1 masks and are never recorded.
    pub fn binary(&self, op: BinaryOp, rhs: &Self) -> Result<Self> {
        let shape = Shape::broadcast(op.name(), self.shape(), rhs.shape())?;
        let storage =
            self.backend()
                .binary(op, self.storage(), self.shape(), rhs.storage(), rhs.shape())?;
        let inputs: &[&Self] = match op {
            BinaryOp::Add
            | BinaryOp::Sub
            | BinaryOp::Mul
            | BinaryOp::Div
            | BinaryOp::Max
            | BinaryOp::Min => &[self, rhs],
            _ => &[],
        };
        Ok(Self::from_op(
            self.backend(),
            storage,
            shape,
            inputs,
            || BinaryBackward(op),
        ))
    }

    /// self + rhs
    pub fn add(&self, rhs: &Self) -> Result<Self> {
        self.binary(BinaryOp::Add, rhs)
    }
    /// self - rhs
    pub fn sub(&self, rhs: &Self) -> Result<Self> {
        self.binary(BinaryOp::Sub, rhs)
    }
    /// self * rhs
    pub fn mul(&self, rhs: &Self) -> Result<Self> {
        self.binary(BinaryOp::Mul, rhs)
    }
    /// self / rhs
    pub fn div(&self, rhs: &Self) -> Result<Self> {
        self.binary(BinaryOp::Div, rhs)
    }
    /// The elementwise larger value; where equal, the gradient goes to `self`.
    pub fn maximum(&self, rhs: &Self) -> Result<Self> {
        self.binary(BinaryOp::Max, rhs)
    }
    /// The elementwise smaller value; where equal, the gradient goes to `self`.
    pub fn minimum(&self, rhs: &Self) -> Result<Self> {
        self.binary(BinaryOp::Min, rhs)
    }
    /// 1 where self == rhs.
    pub fn eq(&self, rhs: &Self) -> Result<Self> {
        self.binary(BinaryOp::Eq, rhs)
    }
    /// 1 where self != rhs.
    pub fn ne(&self, rhs: &Self) -> Result<Self> {
        self.binary(BinaryOp::Ne, rhs)
    }
    /// 1 where self < rhs.
    pub fn lt(&self, rhs: &Self) -> Result<Self> {
        self.binary(BinaryOp::Lt, rhs)
    }
    /// 1 where self <= rhs.
    pub fn le(&self, rhs: &Self) -> Result<Self> {
        self.binary(BinaryOp::Le, rhs)
    }
    /// 1 where self > rhs.
    pub fn gt(&self, rhs: &Self) -> Result<Self> {
        self.binary(BinaryOp::Gt, rhs)
    }
    /// 1 where self >= rhs.
    pub fn ge(&self, rhs: &Self) -> Result<Self> {
        self.binary(BinaryOp::Ge, rhs)
    }
}

struct UnaryBackward<B: Backend, T: Float> {
    op: UnaryOp,
    /// The derivative at the input of an op whose rule is `g f'(x)` with `f'` an op of its own
    /// (GELU, SiLU), kept from a backward pass that recorded it: a second
    /// backward pass through the same graph (the second-order training step takes one through
    /// the forward ops again) reuses it instead of computing it again. It is part of the graph
    /// that the recorded pass made, so keeping it here costs no memory that graph does not hold.
    derivative: OnceLock<Tensor<B, T>>,
}

impl<B: Backend, T: Float> UnaryBackward<B, T> {
    fn new(op: UnaryOp) -> Self {
        UnaryBackward {
            op,
            derivative: OnceLock::new(),
        }
    }

    /// `derivative(x)`, from the kept value when there is one. A value computed while
    /// recording is kept; one computed without recording is not (it would lack the graph that
    /// a later recorded pass needs).
    fn derivative_at(
        &self,
        x: &Tensor<B, T>,
        derivative: impl FnOnce(&Tensor<B, T>) -> Result<Tensor<B, T>>,
    ) -> Result<Tensor<B, T>> {
        if let Some(kept) = self.derivative.get() {
            return Ok(kept.clone());
        }
        let value = derivative(x)?;
        if is_grad_enabled() {
            let _ = self.derivative.set(value.clone());
        }
        Ok(value)
    }
}

impl<B: Backend, T: Float> BackwardOp<B, T> for UnaryBackward<B, T> {
    fn name(&self) -> &'static str {
        self.op.name()
    }

    fn backward(
        &self,
        inputs: &[Tensor<B, T>],
        output: Option<&Tensor<B, T>>,
        g: &Tensor<B, T>,
        _needs: &[bool],
    ) -> Result<Vec<Option<Tensor<B, T>>>> {
        let x = &inputs[0];
        // The op's own output, recomputed only if it is no longer alive.
        let out = || -> Result<Tensor<B, T>> {
            match output {
                Some(o) => Ok(o.clone()),
                None => x.unary(self.op),
            }
        };
        let gx = match self.op {
            UnaryOp::Neg => g.neg()?,
            UnaryOp::Abs => g.mul(&x.sign()?)?,
            UnaryOp::Sign | UnaryOp::Step => g.zeros_like()?,
            UnaryOp::Exp => g.mul(&out()?)?,
            UnaryOp::Log => g.div(x)?,
            UnaryOp::Sqrt => g.div(&out()?)?.scale(0.5)?,
            UnaryOp::Recip => g.mul(&out()?.square()?)?.neg()?,
            UnaryOp::Square => g.mul(x)?.scale(2.0)?,
            UnaryOp::Sin => g.mul(&x.cos()?)?,
            UnaryOp::Cos => g.mul(&x.sin()?)?.neg()?,
            UnaryOp::Tanh => g.mul(&out()?.square()?.affine(-1.0, 1.0)?)?,
            UnaryOp::Erf => g.mul(&x.square()?.neg()?.exp()?.scale(FRAC_2_SQRT_PI)?)?,
            UnaryOp::Sigmoid => {
                let s = out()?;
                g.mul(&s.mul(&s.affine(-1.0, 1.0)?)?)?
            }
            UnaryOp::Relu => g.mul(&x.step()?)?,
            UnaryOp::Gelu => g.mul(&self.derivative_at(x, Tensor::gelu_grad)?)?,
            UnaryOp::GeluGrad => {
                // d/dx [Phi(x) + x phi(x)] = phi(x) (2 - x^2)
                let x2 = x.square()?;
                let phi = x2.scale(-0.5)?.exp()?.scale(1.0 / (2.0 * PI).sqrt())?;
                g.mul(&phi.mul(&x2.affine(-1.0, 2.0)?)?)?
            }
            UnaryOp::Silu => g.mul(&self.derivative_at(x, Tensor::silu_grad)?)?,
            UnaryOp::SiluGrad => {
                // d/dx [s (1 + x (1 - s))] = s (1 - s) (2 + x (1 - 2 s)), s = sigmoid(x)
                let s = x.sigmoid()?;
                let ds = s.mul(&s.affine(-1.0, 1.0)?)?;
                g.mul(&ds.mul(&x.mul(&s.affine(-2.0, 1.0)?)?.add_scalar(2.0)?)?)?
            }
            UnaryOp::Affine { scale, .. } => g.scale(T::of_f64(scale).as_f64())?,
            UnaryOp::Powf(p) => {
                let p = T::of_f64(p).as_f64();
                g.mul(&x.powf(p - 1.0)?.scale(p)?)?
            }
        };
        Ok(vec![Some(gx)])
    }
}

struct BinaryBackward(BinaryOp);

impl<B: Backend, T: Float> BackwardOp<B, T> for BinaryBackward {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn backward(
        &self,
        inputs: &[Tensor<B, T>],
        _output: Option<&Tensor<B, T>>,
        g: &Tensor<B, T>,
        needs: &[bool],
    ) -> Result<Vec<Option<Tensor<B, T>>>> {
        let (a, b) = (&inputs[0], &inputs[1]);
        let need_a = needs.first().copied().unwrap_or(false);
        let need_b = needs.get(1).copied().unwrap_or(false);
        let (ga, gb) = match self.0 {
            BinaryOp::Add => (
                when(need_a, || Ok(g.clone()))?,
                when(need_b, || Ok(g.clone()))?,
            ),
            BinaryOp::Sub => (when(need_a, || Ok(g.clone()))?, when(need_b, || g.neg())?),
            BinaryOp::Mul => (when(need_a, || g.mul(b))?, when(need_b, || g.mul(a))?),
            BinaryOp::Div => (
                when(need_a, || g.div(b))?,
                when(need_b, || g.mul(a)?.div(&b.square()?)?.neg())?,
            ),
            BinaryOp::Max => (
                when(need_a, || g.mul(&a.ge(b)?))?,
                when(need_b, || g.mul(&a.lt(b)?))?,
            ),
            BinaryOp::Min => (
                when(need_a, || g.mul(&a.le(b)?))?,
                when(need_b, || g.mul(&a.gt(b)?))?,
            ),
            _ => (None, None),
        };
        Ok(vec![
            ga.map(|t| t.sum_to(a.shape())).transpose()?,
            gb.map(|t| t.sum_to(b.shape())).transpose()?,
        ])
    }
}

fn when<X>(needed: bool, f: impl FnOnce() -> Result<X>) -> Result<Option<X>> {
    if needed { f().map(Some) } else { Ok(None) }
}
