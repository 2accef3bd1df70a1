//! Convolutions at stride 2 and dilation 2 on shapes large enough to take every path of a
//! backend that chooses its algorithm from the shapes, as the CPU backend does
//! (backend-cpu/src/conv): the general gathered-column path with one image per task (several
//! pixel tiles, several contraction chunks, blocks of output channels) and with several images
//! per task, the "same" convolution gathered a row at a time, the long-kernel path of weight
//! gradients (one GEMM per output pixel or per output row, one or several contraction chunks),
//! the transposed convolution through the flipped kernel (stride 1) and through a scattered
//! GEMM (stride 2, one or several tiles, blocks of output channels or whole images), the
//! shifted-row kernel of f32 stride-1 convolutions whose output rows are whole vectors of 8
//! pixels (forward, input and weight gradients) and of those whose stride equals their kernel
//! (through phase planes), and the direct loops taken when the data holds an infinity or a NaN.
//!
//! The small properties ([`crate::conv2d`]) draw shapes too small for most of these paths, and
//! [`crate::large_conv`] draws its weight-gradient shapes at stride 1 and dilation 1 only;
//! the weight gradient of the UNet's 2x2 stride-2 downsampling is a convolution at dilation 2
//! whose kernel is the output gradient, and that of a dilated layer one at stride 2.
//!
//! The cases are fixed (each is named by the path it was sized for, with the CPU backend's
//! rule that selects it); each runs on two data kinds (normal values, and small integers whose
//! sums are exact), and the direct-path cases on data with infinities and NaNs. The comparison
//! is the same as the small properties': the summation bound against the f64 oracle.

use crate::conv::{conv_transpose2d_one, conv2d_one, conv2d_weight_grad_one};
use crate::strategies::{ConvCase, ConvTransposeCase, DataKind};
use dualscore_core::backend::{Conv2dParams, ConvTranspose2dParams};
use dualscore_core::{Backend, Float, Shape};

/// One case: a convolution or a transposed convolution.
#[derive(Clone, Debug)]
pub enum PathCase {
    /// `conv2d`.
    Conv(ConvCase),
    /// `conv_transpose2d`.
    Transpose(ConvTransposeCase),
    /// `conv2d_weight_grad` of the convolution.
    WeightGrad(ConvCase),
}

fn conv(
    input: [usize; 4],
    weight: [usize; 4],
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
) -> PathCase {
    PathCase::Conv(ConvCase {
        input: Shape::new(input),
        weight: Shape::new(weight),
        params: Conv2dParams {
            stride,
            padding,
            dilation,
        },
        seed: 0,
        kind: DataKind::Normal,
    })
}

/// The weight gradient of a convolution with dilation 1.
fn weight_grad(
    input: [usize; 4],
    weight: [usize; 4],
    stride: [usize; 2],
    padding: [usize; 2],
) -> PathCase {
    match conv(input, weight, stride, padding, [1, 1]) {
        PathCase::Conv(c) => PathCase::WeightGrad(c),
        _ => unreachable!("conv builds a convolution"),
    }
}

fn transpose(
    input: [usize; 4],
    weight: [usize; 4],
    stride: usize,
    padding: usize,
    output_padding: usize,
    dilation: usize,
) -> PathCase {
    PathCase::Transpose(ConvTransposeCase {
        input: Shape::new(input),
        weight: Shape::new(weight),
        params: ConvTranspose2dParams::new(stride, padding, output_padding, dilation),
        seed: 0,
        kind: DataKind::Normal,
    })
}

/// The cases, each with the path it was sized for. `K` is the contraction length `C KH KW`,
/// "pixels" the output pixels of one image.
pub fn path_cases() -> Vec<(&'static str, PathCase)> {
    vec![
        (
            // 441 pixels (two tiles of at most 352), K = 360 (two chunks), one image: blocks of
            // output channels.
            "gathered columns, one image per task, tiles, chunks, channel blocks (s2 d2)",
            conv([1, 40, 41, 41], [40, 40, 3, 3], [2, 2], [2, 2], [2, 2]),
        ),
        (
            "gathered columns, one image per task, mixed stride and dilation",
            conv([2, 12, 30, 27], [36, 12, 3, 3], [2, 1], [1, 2], [1, 2]),
        ),
        (
            // 25 pixels, 17 images: three images per task.
            "gathered columns, several images per task (s2 d2)",
            conv([17, 3, 9, 9], [5, 3, 3, 3], [2, 2], [2, 2], [2, 2]),
        ),
        (
            "same convolution gathered by rows (d2)",
            conv([2, 8, 16, 16], [8, 8, 3, 3], [1, 1], [2, 2], [2, 2]),
        ),
        (
            "same convolution, several images per task (d2)",
            conv([17, 4, 6, 6], [6, 4, 3, 3], [1, 1], [2, 2], [2, 2]),
        ),
        (
            // The weight gradient of a 2x2 stride-2 downsampling of 32x32 images, batch 4:
            // K = 4 x 16 x 16 = 1024, 2x2 pixels; stride 1 != dilation 2, one GEMM per pixel.
            "long kernel, dilation 2 (a stride-2 layer's weight gradient)",
            conv([16, 4, 32, 32], [32, 4, 16, 16], [1, 1], [0, 0], [2, 2]),
        ),
        (
            // K = 8 x 32 x 32 = 8192: two contraction chunks.
            "long kernel, dilation 2, two contraction chunks",
            conv([8, 8, 64, 64], [8, 8, 32, 32], [1, 1], [0, 0], [2, 2]),
        ),
        (
            // A dilation-2 layer's weight gradient: 3x3 pixels, K = 1024.
            "long kernel, stride 2 (a dilated layer's weight gradient)",
            conv([8, 4, 20, 20], [6, 4, 16, 16], [2, 2], [0, 0], [1, 1]),
        ),
        (
            // Column stride = column dilation: a whole output row is one GEMM.
            "long kernel, stride 2 and dilation 2, one GEMM per output row",
            conv([6, 4, 34, 34], [5, 4, 16, 16], [2, 2], [1, 1], [2, 2]),
        ),
        (
            "long kernel, mixed stride and dilation",
            conv([4, 4, 24, 36], [5, 4, 16, 16], [2, 1], [1, 0], [1, 2]),
        ),
        (
            // A weight gradient of a 3x3 layer on 32x32 images, batch 4 (K = 4096, 3x3 pixels).
            "long kernel, dilation 1 (a 3x3 layer's weight gradient)",
            conv([16, 4, 32, 32], [16, 4, 32, 32], [1, 1], [1, 1], [1, 1]),
        ),
        (
            "transposed, stride 1, dilation 2: the flipped kernel's convolution",
            transpose([2, 8, 12, 12], [8, 6, 3, 3], 1, 1, 0, 2),
        ),
        (
            // Two images: blocks of output channels.
            "transposed, stride 2, dilation 2: scattered GEMM, channel blocks",
            transpose([2, 16, 10, 10], [16, 12, 3, 3], 2, 1, 1, 2),
        ),
        (
            // Eight images, 144 input pixels against tiles of 113: two tiles per image.
            "transposed, stride 2, dilation 2: scattered GEMM, whole images, two tiles",
            transpose([8, 4, 12, 12], [4, 64, 3, 3], 2, 1, 1, 2),
        ),
        (
            "transposed, the UNet's 2x2 stride-2 upsampling, nine images",
            transpose([9, 16, 8, 8], [16, 8, 2, 2], 2, 0, 0, 1),
        ),
        (
            // 16-pixel rows, 5 output channels: a full and a partial block of 4.
            "shifted rows (f32): 3x3 same convolution, a partial channel block",
            conv([3, 6, 16, 16], [5, 6, 3, 3], [1, 1], [1, 1], [1, 1]),
        ),
        (
            // 11 rows of 8 pixels: an odd number of pixel groups.
            "shifted rows (f32): 5x5 kernel, 8-pixel rows, an odd number of groups",
            conv([2, 5, 11, 12], [9, 5, 5, 5], [1, 1], [2, 0], [1, 1]),
        ),
        (
            "shifted rows (f32): transposed, stride 1 (an input gradient)",
            transpose([2, 8, 16, 16], [8, 6, 3, 3], 1, 1, 0, 1),
        ),
        (
            // 7 output channels (a partial block), K = 5 x 9 = 45 columns in tiles of 3.
            "shifted rows (f32): weight gradient of a 3x3 same convolution",
            weight_grad([4, 5, 16, 16], [7, 5, 3, 3], [1, 1], [1, 1]),
        ),
        (
            // K = 3 x 2 x 2 = 12; 8-pixel rows from a 9x9 image without padding.
            "shifted rows (f32): weight gradient of a 2x2 kernel, no padding",
            weight_grad([3, 3, 9, 9], [4, 3, 2, 2], [1, 1], [0, 0]),
        ),
        (
            // Stride = kernel: a 1x1 convolution of 12 phase planes of 8x8.
            "phase planes (f32): 2x2 stride-2 convolution of 16x16 images",
            conv([3, 3, 16, 16], [5, 3, 2, 2], [2, 2], [0, 0], [1, 1]),
        ),
        (
            // 4x4 planes (16 pixels, two vectors) from 9x9 images: the last row and column
            // are read by no patch.
            "phase planes (f32): 2x2 stride-2 convolution, odd image, 4x4 planes",
            conv([2, 8, 9, 9], [9, 8, 2, 2], [2, 2], [0, 0], [1, 1]),
        ),
        (
            "phase planes (f32): weight gradient of a 2x2 stride-2 convolution",
            weight_grad([3, 6, 8, 8], [7, 6, 2, 2], [2, 2], [0, 0]),
        ),
        (
            "phase planes (f32): 2x2 stride-2 transposed convolution, 4x4 to 8x8",
            transpose([2, 8, 4, 4], [8, 6, 2, 2], 2, 0, 0, 1),
        ),
        (
            // An output padding of 1: the last row and column receive nothing.
            "phase planes (f32): 2x2 stride-2 transposed convolution, output padding",
            transpose([2, 5, 8, 8], [5, 3, 2, 2], 2, 0, 1, 1),
        ),
        (
            // A width other than 2 takes the general rearrangement; the last column of the
            // 16x25 images is read by no patch.
            "phase planes (f32): 2x3 kernel at stride (2, 3), 8x8 planes",
            conv([2, 4, 16, 25], [6, 4, 2, 3], [2, 3], [0, 0], [1, 1]),
        ),
        (
            "phase planes (f32): weight gradient of a 3x3 stride-3 convolution",
            weight_grad([2, 3, 24, 24], [5, 3, 3, 3], [3, 3], [0, 0]),
        ),
        (
            "phase planes (f32): 3x3 stride-3 transposed convolution, 8x8 to 24x24",
            transpose([2, 4, 8, 8], [4, 5, 3, 3], 3, 0, 0, 1),
        ),
    ]
}

/// Cases for the direct loops: short contractions (so that a NaN does not reach every output)
/// at stride 2 and dilation 2, run on data with infinities and NaNs.
pub fn direct_cases() -> Vec<(&'static str, PathCase)> {
    vec![
        (
            "direct loops, convolution (s2 d2)",
            conv([2, 2, 19, 17], [3, 2, 2, 2], [2, 2], [1, 1], [2, 2]),
        ),
        (
            "direct loops, transposed convolution (s2 d2)",
            transpose([2, 2, 9, 8], [2, 3, 2, 2], 2, 1, 1, 2),
        ),
    ]
}

fn with_data(case: &PathCase, kind: DataKind, seed: u64) -> PathCase {
    let mut case = case.clone();
    match &mut case {
        PathCase::Conv(c) => (c.kind, c.seed) = (kind, seed),
        PathCase::Transpose(c) => (c.kind, c.seed) = (kind, seed),
        PathCase::WeightGrad(c) => (c.kind, c.seed) = (kind, seed),
    }
    case
}

/// Runs one case on the backend and the oracle; panics naming the path on a mismatch.
pub fn conv_path_one<B: Backend, T: Float>(backend: &B, path: &str, case: &PathCase) {
    let result = match case {
        PathCase::Conv(c) => conv2d_one::<B, T>(backend, c),
        PathCase::Transpose(c) => conv_transpose2d_one::<B, T>(backend, c),
        PathCase::WeightGrad(c) => conv2d_weight_grad_one::<B, T>(backend, c),
    };
    if let Err(e) = result {
        panic!("{path} ({}): {e}\ncase: {case:?}", T::DTYPE);
    }
}

/// Every case of [`path_cases`] on normal values and on small integers, and every case of
/// [`direct_cases`] on data with infinities and NaNs, against the oracle.
pub fn conv_paths<B: Backend, T: Float>(backend: &B) {
    for (i, (path, case)) in path_cases().iter().enumerate() {
        for (kind, seed) in [
            (DataKind::Normal, 0xC0 + i as u64),
            (DataKind::SmallInts, 7),
        ] {
            conv_path_one::<B, T>(backend, path, &with_data(case, kind, seed));
        }
    }
    for (i, (path, case)) in direct_cases().iter().enumerate() {
        for seed in 0..4 {
            let case = with_data(case, DataKind::NonFinite, 0xD0 + 8 * i as u64 + seed);
            conv_path_one::<B, T>(backend, path, &case);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_are_valid() {
        for (path, case) in path_cases().into_iter().chain(direct_cases()) {
            let ok = match &case {
                PathCase::Conv(c) | PathCase::WeightGrad(c) => {
                    c.params.output_shape(&c.input, &c.weight).is_ok()
                }
                PathCase::Transpose(c) => c.params.output_shape(&c.input, &c.weight).is_ok(),
            };
            assert!(ok, "{path}: {case:?}");
        }
    }
}
