//! The gradient properties on the reference backend (checks the suite and the autodiff rules
//! independently of any fast backend).

use dualscore_backend_tests::gradients;
use dualscore_core::backend::reference::Reference;

#[test]
fn unary() {
    gradients::unary(&Reference);
}
#[test]
fn binary() {
    gradients::binary(&Reference);
}
#[test]
fn reduce() {
    gradients::reduce(&Reference);
}
#[test]
fn matmul() {
    gradients::matmul(&Reference);
}
#[test]
fn conv2d() {
    gradients::conv2d(&Reference);
}
#[test]
fn conv_transpose2d() {
    gradients::conv_transpose2d(&Reference);
}
#[test]
fn layout() {
    gradients::layout(&Reference);
}
#[test]
fn adjoints() {
    gradients::adjoints(&Reference);
}
#[test]
fn composition() {
    gradients::composition(&Reference);
}
#[test]
fn jvp() {
    gradients::jvp(&Reference);
}
