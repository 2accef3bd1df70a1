//! Launchers of `conv.cu`: convolutions and transposed convolutions as GEMMs.
//!
//! `conv2d` writes the column matrices of a chunk of images (im2col, `[C KH KW, HO WO]` an
//! image) and multiplies them by the weight `[O, C KH KW]` in one batched GEMM (the weight
//! shared), straight into the output. `conv_transpose2d` multiplies the transposed weight
//! `[Cout KH KW, Cin]` by each image `[Cin, H W]` into columns, which col2im gathers into the
//! output: the adjoint of im2col, each output pixel summing its own taps in a fixed order.
//! Images go in chunks whose columns fit in [`COLUMN_BYTES`]; one workspace serves every
//! chunk. A 1x1 kernel with unit stride and no padding needs no columns at all.
//!
//! Columns hold zeros where the kernel reads padding, which the definition skips instead: under
//! an infinite or NaN weight the product gives NaN there (`0 * inf`). With padding, conv2d
//! therefore ends with a pass that recomputes every NaN output by the definition; outputs
//! that are not NaN never met such a product. The transposed convolution needs none: col2im
//! drops the positions outside the output rather than multiplying anything by zero.

use super::elementwise;
use super::launch::{Args, typed};
use super::matmul::{Gemm, Operand, address, gemm};
use super::modules::Family;
use super::{CudaStorage, Device};
use dualscore_core::backend::validate::Output;
use dualscore_core::backend::{Conv2dParams, ConvTranspose2dParams};
use dualscore_core::{Float, Result, Shape};

/// The most bytes of column matrices held at once (the images of a chunk); a single image
/// whose columns are larger runs alone.
const COLUMN_BYTES: usize = 256 << 20;

/// One convolution seen from its input side (`struct ConvGeometry` of `conv.cu`): images of
/// `channels x height x width`, a `kernel_h x kernel_w` kernel at `out_h x out_w` positions.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ConvGeometry {
    channels: i64,
    height: i64,
    width: i64,
    kernel_h: i64,
    kernel_w: i64,
    out_h: i64,
    out_w: i64,
    stride_h: i64,
    stride_w: i64,
    pad_h: i64,
    pad_w: i64,
    dilation_h: i64,
    dilation_w: i64,
}

impl ConvGeometry {
    /// Images `[_, channels, height, width]`, a kernel of `kernel` taps at `out` positions.
    fn new(image: &[usize], kernel: [usize; 2], out: [usize; 2], p: &Conv2dParams) -> Self {
        let i = |v: usize| v as i64;
        ConvGeometry {
            channels: i(image[1]),
            height: i(image[2]),
            width: i(image[3]),
            kernel_h: i(kernel[0]),
            kernel_w: i(kernel[1]),
            out_h: i(out[0]),
            out_w: i(out[1]),
            stride_h: i(p.stride[0]),
            stride_w: i(p.stride[1]),
            pad_h: i(p.padding[0]),
            pad_w: i(p.padding[1]),
            dilation_h: i(p.dilation[0]),
            dilation_w: i(p.dilation[1]),
        }
    }

    /// Elements of one image's columns: `channels kernel_h kernel_w out_h out_w`.
    fn column_len(&self) -> usize {
        [
            self.channels,
            self.kernel_h,
            self.kernel_w,
            self.out_h,
            self.out_w,
        ]
        .iter()
        .map(|&v| v as usize)
        .product()
    }
}

/// How many images go in one chunk: as many as fit in `column_bytes` of columns of
/// `column_len` elements each (at least one, at most `images`).
fn chunk_images(
    images: usize,
    column_len: usize,
    element_bytes: usize,
    column_bytes: usize,
) -> usize {
    let per_image = column_len.saturating_mul(element_bytes).max(1);
    (column_bytes / per_image).clamp(1, images.max(1))
}

/// The chunks `(first image, images)` of a batch of `images`.
fn chunks(images: usize, chunk: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..images)
        .step_by(chunk)
        .map(move |first| (first, chunk.min(images - first)))
}

/// Whether the kernel reads each pixel once in place: columns equal to the image.
fn pointwise(kernel: &[usize], stride: [usize; 2], padding: [usize; 2]) -> bool {
    kernel == [1, 1] && stride == [1, 1] && padding == [0, 0]
}

/// Launches the `(f32, f64)` names of `im2col` or `col2im` over `images` images, `len` elements
/// written in all.
fn launch_columns<T: Float>(
    device: &Device,
    (f32_name, f64_name): (&'static str, &'static str),
    (dst, src): (u64, u64),
    geometry: ConvGeometry,
    images: usize,
    len: usize,
) -> Result<()> {
    let mut args = Args::new();
    args.value(dst).value(src).value(geometry).size(images);
    device.launch_1d(Family::Conv, typed::<T>(f32_name, f64_name), len, &mut args)
}

pub(crate) fn conv2d<T: Float>(
    device: &Device,
    input: &CudaStorage<T>,
    input_shape: &Shape,
    weight: &CudaStorage<T>,
    weight_shape: &Shape,
    params: &Conv2dParams,
    out: &Output,
) -> Result<CudaStorage<T>> {
    let x = (input, input_shape);
    let w = (weight, weight_shape);
    conv2d_in_chunks(device, x, w, params, out, COLUMN_BYTES)
}

/// [`conv2d`] with at most `column_bytes` of columns at once (past one image).
fn conv2d_in_chunks<T: Float>(
    device: &Device,
    (input, input_shape): (&CudaStorage<T>, &Shape),
    (weight, weight_shape): (&CudaStorage<T>, &Shape),
    params: &Conv2dParams,
    out: &Output,
    column_bytes: usize,
) -> Result<CudaStorage<T>> {
    let (xs, ws, os) = (input_shape.dims(), weight_shape.dims(), out.shape.dims());
    if out.len == 0 {
        return device.alloc::<T>(0);
    }
    let (images, channels, outputs) = (xs[0], xs[1], ws[0]);
    let contraction = channels * ws[2] * ws[3];
    if contraction == 0 {
        return elementwise::fill(device, out.len, T::zero());
    }
    let positions = os[2] * os[3];
    let result = device.alloc::<T>(out.len)?;
    let a = Operand::lhs(weight, 0, [outputs, contraction], false, false);
    let sizes = [outputs, positions, contraction];
    let out_image = outputs * positions;
    if pointwise(&ws[2..], params.stride, params.padding) {
        let b = Operand::rhs(input, 0, [channels, positions], false, true);
        gemm(device, &Gemm::new(images, sizes, a, b), &result, 0)?;
        return Ok(result);
    }
    let geometry = ConvGeometry::new(xs, [ws[2], ws[3]], [os[2], os[3]], params);
    let column_len = geometry.column_len();
    let chunk = chunk_images(images, column_len, T::DTYPE.size_in_bytes(), column_bytes);
    let columns = device.alloc::<T>(chunk * column_len)?;
    let in_image = channels * xs[2] * xs[3];
    for (first, count) in chunks(images, chunk) {
        launch_columns::<T>(
            device,
            ("im2col_f32", "im2col_f64"),
            (columns.address(), address(input, first * in_image)),
            geometry,
            count,
            count * column_len,
        )?;
        let b = Operand::rhs(&columns, 0, [contraction, positions], false, true);
        let g = Gemm::new(count, sizes, a, b);
        gemm(device, &g, &result, first * out_image)?;
    }
    if params.padding != [0, 0] {
        let mut args = Args::new();
        args.buffer(&result)
            .buffer(input)
            .buffer(weight)
            .value(geometry)
            .size(outputs)
            .size(images);
        device.launch_1d(
            Family::Conv,
            typed::<T>("conv2d_redo_nan_f32", "conv2d_redo_nan_f64"),
            out.len,
            &mut args,
        )?;
    }
    Ok(result)
}

pub(crate) fn conv_transpose2d<T: Float>(
    device: &Device,
    input: &CudaStorage<T>,
    input_shape: &Shape,
    weight: &CudaStorage<T>,
    weight_shape: &Shape,
    params: &ConvTranspose2dParams,
    out: &Output,
) -> Result<CudaStorage<T>> {
    let x = (input, input_shape);
    let w = (weight, weight_shape);
    conv_transpose2d_in_chunks(device, x, w, params, out, COLUMN_BYTES)
}

/// [`conv_transpose2d`] with at most `column_bytes` of columns at once (past one image).
fn conv_transpose2d_in_chunks<T: Float>(
    device: &Device,
    (input, input_shape): (&CudaStorage<T>, &Shape),
    (weight, weight_shape): (&CudaStorage<T>, &Shape),
    params: &ConvTranspose2dParams,
    out: &Output,
    column_bytes: usize,
) -> Result<CudaStorage<T>> {
    let (xs, ws, os) = (input_shape.dims(), weight_shape.dims(), out.shape.dims());
    if out.len == 0 {
        return device.alloc::<T>(0);
    }
    let (images, inputs, outputs) = (xs[0], xs[1], ws[1]);
    if inputs == 0 {
        return elementwise::fill(device, out.len, T::zero());
    }
    let pixels = xs[2] * xs[3];
    let rows = outputs * ws[2] * ws[3];
    let result = device.alloc::<T>(out.len)?;
    // The weight [Cin, Cout KH KW] read as its transpose: the left operand [Cout KH KW, Cin].
    let product = |first: usize, images| {
        let a = Operand::lhs(weight, 0, [rows, inputs], true, false);
        let b = Operand::rhs(
            input,
            first * inputs * pixels,
            [inputs, pixels],
            false,
            true,
        );
        Gemm::new(images, [rows, pixels, inputs], a, b)
    };
    if pointwise(&ws[2..], params.stride, params.padding) && params.output_padding == [0, 0] {
        gemm(device, &product(0, images), &result, 0)?;
        return Ok(result);
    }
    // The output is the image of the convolution this transposes, the input its positions.
    let geometry = ConvGeometry::new(os, [ws[2], ws[3]], [xs[2], xs[3]], &params.forward_conv());
    let column_len = geometry.column_len();
    let chunk = chunk_images(images, column_len, T::DTYPE.size_in_bytes(), column_bytes);
    let columns = device.alloc::<T>(chunk * column_len)?;
    let out_image = outputs * os[2] * os[3];
    for (first, count) in chunks(images, chunk) {
        gemm(device, &product(first, count), &columns, 0)?;
        launch_columns::<T>(
            device,
            ("col2im_f32", "col2im_f64"),
            (address(&result, first * out_image), columns.address()),
            geometry,
            count,
            count * out_image,
        )?;
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_keep_columns_under_the_cap_and_cover_the_batch() {
        let cases = [
            (1, 10, 4),
            (7, 1 << 20, 4),
            (64, 9 * 262_144, 4),
            (64, 9 * 262_144, 8),
            (3, (COLUMN_BYTES / 8) + 1, 8),
            (1000, 27 * 64 * 64, 4),
        ];
        for (images, column_len, bytes) in cases {
            let chunk = chunk_images(images, column_len, bytes, COLUMN_BYTES);
            assert!((1..=images).contains(&chunk));
            assert!(chunk == 1 || chunk * column_len * bytes <= COLUMN_BYTES);
            // As many as fit: one more image would cross the cap (or there is none).
            assert!(chunk == images || (chunk + 1) * column_len * bytes > COLUMN_BYTES);
            let all: Vec<(usize, usize)> = chunks(images, chunk).collect();
            assert_eq!(all[0].0, 0);
            assert_eq!(all.iter().map(|c| c.1).sum::<usize>(), images);
            assert!(all.windows(2).all(|w| w[0].0 + w[0].1 == w[1].0));
            assert!(all.iter().all(|&(_, n)| (1..=chunk).contains(&n)));
        }
        // A single image larger than the cap runs alone.
        assert_eq!(chunk_images(5, COLUMN_BYTES, 4, COLUMN_BYTES), 1);
    }

    #[test]
    fn geometry_of_a_convolution_and_of_its_transpose() {
        let p = Conv2dParams {
            stride: [2, 1],
            padding: [1, 0],
            dilation: [1, 3],
        };
        let g = ConvGeometry::new(&[2, 3, 7, 9], [3, 2], [4, 6], &p);
        assert_eq!(
            g,
            ConvGeometry {
                channels: 3,
                height: 7,
                width: 9,
                kernel_h: 3,
                kernel_w: 2,
                out_h: 4,
                out_w: 6,
                stride_h: 2,
                stride_w: 1,
                pad_h: 1,
                pad_w: 0,
                dilation_h: 1,
                dilation_w: 3,
            }
        );
        assert_eq!(g.column_len(), 3 * 3 * 2 * 4 * 6);
        // The transposed convolution's output [N, Cout, HO, WO] is the image side.
        let t = ConvTranspose2dParams::new(2, 1, 1, 1);
        let g = ConvGeometry::new(&[1, 5, 8, 8], [3, 3], [4, 4], &t.forward_conv());
        assert_eq!((g.channels, g.height, g.out_h, g.stride_h), (5, 8, 4, 2));
    }

    #[test]
    fn only_unit_stride_unpadded_one_by_one_kernels_skip_the_columns() {
        assert!(pointwise(&[1, 1], [1, 1], [0, 0]));
        assert!(!pointwise(&[1, 1], [2, 1], [0, 0]));
        assert!(!pointwise(&[1, 1], [1, 1], [0, 1]));
        assert!(!pointwise(&[3, 1], [1, 1], [0, 0]));
    }
}

/// The convolutions on the device (or the emulator) in chunks of every size, skipped
/// without one.
#[cfg(test)]
mod device_tests {
    use super::*;
    use crate::device::matmul::device_tests::ints;
    use crate::{Cuda, testing};
    use dualscore_core::Backend;
    use dualscore_core::backend::reference::Reference;
    use dualscore_core::backend::validate;

    /// Results equal to the reference's (NaN where it has NaN).
    fn same<T: Float>(got: &[T], want: &[T], what: &str) {
        assert_eq!(got.len(), want.len(), "{what}");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                g == w || (g.is_nan() && w.is_nan()),
                "{what}: [{i}] {g} vs {w}"
            );
        }
    }

    /// conv2d of `x` by `w` with at most `column_bytes` of columns at once, against the
    /// reference.
    fn conv<T: Float>(
        gpu: &Cuda,
        (x, xs): (&[T], [usize; 4]),
        (w, ws): (&[T], [usize; 4]),
        p: Conv2dParams,
        column_bytes: usize,
    ) {
        let (xs, ws) = (Shape::new(xs), Shape::new(ws));
        let want = Reference
            .conv2d(&x.to_vec(), &xs, &w.to_vec(), &ws, &p)
            .unwrap();
        let out = validate::conv2d(x.len(), &xs, w.len(), &ws, &p).unwrap();
        let (dx, dw) = (gpu.upload(x).unwrap(), gpu.upload(w).unwrap());
        let got = conv2d_in_chunks(&gpu.device, (&dx, &xs), (&dw, &ws), &p, &out, column_bytes);
        let what = format!("conv2d {xs} * {ws} {p:?}, {column_bytes} bytes of columns");
        same(&gpu.download(&got.unwrap()).unwrap(), &want, &what);
    }

    /// conv_transpose2d, as [`conv`].
    fn convt<T: Float>(
        gpu: &Cuda,
        (x, xs): (&[T], [usize; 4]),
        (w, ws): (&[T], [usize; 4]),
        p: ConvTranspose2dParams,
        column_bytes: usize,
    ) {
        let (xs, ws) = (Shape::new(xs), Shape::new(ws));
        let want = Reference
            .conv_transpose2d(&x.to_vec(), &xs, &w.to_vec(), &ws, &p)
            .unwrap();
        let out = validate::conv_transpose2d(x.len(), &xs, w.len(), &ws, &p).unwrap();
        let (dx, dw) = (gpu.upload(x).unwrap(), gpu.upload(w).unwrap());
        let got =
            conv_transpose2d_in_chunks(&gpu.device, (&dx, &xs), (&dw, &ws), &p, &out, column_bytes);
        let what = format!("conv_transpose2d {xs} * {ws} {p:?}, {column_bytes} bytes of columns");
        same(&gpu.download(&got.unwrap()).unwrap(), &want, &what);
    }

    fn both<T: Float>(gpu: &Cuda) {
        let bytes = T::DTYPE.size_in_bytes();
        // (input, kernel, stride, padding, dilation), 5 images of 3 channels into 4.
        let cases = [
            ([7, 9], [3, 3], [1, 1], [1, 1], [1, 1]),
            ([8, 7], [3, 2], [2, 3], [1, 2], [2, 1]),
            ([6, 6], [2, 2], [2, 2], [0, 0], [1, 1]),
            ([5, 6], [1, 1], [1, 1], [0, 0], [1, 1]),
            ([5, 4], [1, 1], [2, 1], [1, 0], [1, 1]),
            ([6, 5], [6, 4], [1, 1], [1, 1], [1, 1]),
        ];
        for ([h, w], k, stride, padding, dilation) in cases {
            let p = Conv2dParams {
                stride,
                padding,
                dilation,
            };
            let (xs, ws) = ([5, 3, h, w], [4, 3, k[0], k[1]]);
            let x = ints::<T>(xs.iter().product(), 5);
            let wt = ints::<T>(ws.iter().product(), 6);
            let ys = p.output_shape(&Shape::new(xs), &Shape::new(ws)).unwrap();
            let ys: [usize; 4] = ys.dims().try_into().unwrap();
            let y = ints::<T>(ys.iter().product(), 7);
            let output_padding = [0, 1]
                .map(|a| (xs[2 + a] + 2 * padding[a] - dilation[a] * (k[a] - 1) - 1) % stride[a]);
            let pt = ConvTranspose2dParams {
                stride,
                padding,
                output_padding,
                dilation,
            };
            // One image's columns at a time, two (the last chunk short), all at once.
            let column_len = |c: usize, pixels: usize| c * k[0] * k[1] * pixels * bytes;
            let forward = column_len(3, ys[2] * ys[3]);
            let adjoint = column_len(3, xs[2] * xs[3]);
            for (f, t) in [
                (1, 1),
                (2 * forward, 2 * adjoint),
                (COLUMN_BYTES, COLUMN_BYTES),
            ] {
                conv::<T>(gpu, (&x, xs), (&wt, ws), p, f);
                convt::<T>(gpu, (&y, ys), (&wt, ws), pt, t);
            }
        }
    }

    #[test]
    fn chunked_convolutions_equal_the_reference() {
        let Some(gpu) = testing::device() else {
            return;
        };
        both::<f32>(&gpu);
        both::<f64>(&gpu);
    }

    #[test]
    fn padding_is_skipped_under_infinite_and_nan_weights() {
        let Some(gpu) = testing::device() else {
            return;
        };
        let (xs, ws) = ([2, 2, 5, 5], [3, 2, 3, 3]);
        let x = ints::<f32>(xs.iter().product(), 8);
        let mut w = ints::<f32>(ws.iter().product(), 9);
        // Corner taps of outputs 0 and 1 (which reach the padding), the centre of output 2.
        (w[0], w[26], w[40]) = (f32::INFINITY, f32::NAN, f32::NEG_INFINITY);
        conv::<f32>(
            &gpu,
            (&x, xs),
            (&w, ws),
            Conv2dParams::new(1, 1, 1),
            COLUMN_BYTES,
        );
        conv::<f32>(&gpu, (&x, xs), (&w, ws), Conv2dParams::new(2, 2, 1), 1);
    }
}
