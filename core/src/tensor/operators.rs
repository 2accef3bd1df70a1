//! Arithmetic operators. Each returns a `Result<Tensor>`, since operands may not broadcast.

use super::Tensor;
use crate::backend::Backend;
use crate::error::Result;
use crate::scalar::Float;
use std::ops::{Add, Div, Mul, Neg, Sub};

macro_rules! tensor_operator {
    ($trait:ident, $method:ident, $tensor_fn:ident, $scalar:expr) => {
        impl<B: Backend, T: Float> $trait<&Tensor<B, T>> for &Tensor<B, T> {
            type Output = Result<Tensor<B, T>>;
            fn $method(self, rhs: &Tensor<B, T>) -> Self::Output {
                Tensor::$tensor_fn(&self, rhs)
            }
        }
        impl<B: Backend, T: Float> $trait<Tensor<B, T>> for &Tensor<B, T> {
            type Output = Result<Tensor<B, T>>;
            fn $method(self, rhs: Tensor<B, T>) -> Self::Output {
                Tensor::$tensor_fn(&self, &rhs)
            }
        }
        impl<B: Backend, T: Float> $trait<&Tensor<B, T>> for Tensor<B, T> {
            type Output = Result<Tensor<B, T>>;
            fn $method(self, rhs: &Tensor<B, T>) -> Self::Output {
                Tensor::$tensor_fn(&self, rhs)
            }
        }
        impl<B: Backend, T: Float> $trait<Tensor<B, T>> for Tensor<B, T> {
            type Output = Result<Tensor<B, T>>;
            fn $method(self, rhs: Tensor<B, T>) -> Self::Output {
                Tensor::$tensor_fn(&self, &rhs)
            }
        }
        impl<B: Backend, T: Float> $trait<f64> for &Tensor<B, T> {
            type Output = Result<Tensor<B, T>>;
            fn $method(self, rhs: f64) -> Self::Output {
                let (scale, shift): (f64, f64) = $scalar(rhs);
                Tensor::affine(self, scale, shift)
            }
        }
        impl<B: Backend, T: Float> $trait<f64> for Tensor<B, T> {
            type Output = Result<Tensor<B, T>>;
            fn $method(self, rhs: f64) -> Self::Output {
                <&Tensor<B, T> as $trait<f64>>::$method(&self, rhs)
            }
        }
    };
}

tensor_operator!(Add, add, add, |c: f64| (1.0, c));
tensor_operator!(Sub, sub, sub, |c: f64| (1.0, -c));
tensor_operator!(Mul, mul, mul, |c: f64| (c, 0.0));
tensor_operator!(Div, div, div, |c: f64| (1.0 / c, 0.0));

impl<B: Backend, T: Float> Neg for &Tensor<B, T> {
    type Output = Result<Tensor<B, T>>;
    fn neg(self) -> Self::Output {
        Tensor::neg(self)
    }
}

impl<B: Backend, T: Float> Neg for Tensor<B, T> {
    type Output = Result<Tensor<B, T>>;
    fn neg(self) -> Self::Output {
        Tensor::neg(&self)
    }
}
