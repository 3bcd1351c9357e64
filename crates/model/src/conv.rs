//! Every convolution of the network goes through [`conv2d`]: on burn's CPU backend (flex) an
//! inference-time convolution is one im2col and one GEMM per image; everywhere else (GPU
//! backends, autodiff tensors while training, grouped or non-f32 convolutions) it is burn's own
//! `conv2d`, exactly as `Conv2d::forward` calls it (docs/method.md §12, docs/benchmarks.md).
//!
//! Written by hand because flex's general convolution (burn-flex 0.22, `conv3d_impl`) does
//! three things on every call that this one does not: it lays the whole weight out again as
//! `[out, kh, kw, in]` and the input again as NHWC, both serially, and it scatters each tile's
//! GEMM result into the NCHW output. For wide_resnet50_2 that is 91 M weights (364 MB)
//! rewritten per forward pass by one thread. Here the im2col rows are ordered like the stored
//! weight, `(in, kh, kw)`, so the weight `[out, in, kh, kw]` is the GEMM's left matrix as it
//! is, and the GEMM writes `[out, h·w]` rows, which is NCHW: nothing is laid out again. The
//! GEMM is the `gemm` crate flex itself uses; the bias is written into the output first and
//! accumulated onto by the GEMM. Tested against flex's `conv2d` below and in the parity suite.

use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::module;
use burn::tensor::ops::ConvOptions;

/// `conv.forward(x)`, through the CPU kernel where it applies.
pub fn conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let [_, _, height, width] = x.dims();
    let options = ConvOptions::new_with_padding(
        conv.stride,
        padding_pairs(
            &conv.padding,
            [height, width],
            conv.kernel_size,
            conv.stride,
        ),
        conv.dilation,
        conv.groups,
    );
    let weight = conv.weight.val();
    let bias = conv.bias.as_ref().map(|b| b.val());
    #[cfg(feature = "flex")]
    let (x, weight, bias) = match flex::conv2d(x, weight, bias, &options) {
        Ok(y) => return y,
        Err(inputs) => inputs,
    };
    module::conv2d(x, weight, bias, options)
}

/// `[(top, bottom), (left, right)]` as `Conv2d::forward` computes it (burn-nn keeps that
/// function to itself): "same" puts the odd pixel at the end (ONNX, and TF's "SAME").
fn padding_pairs(
    padding: &PaddingConfig2d,
    size: [usize; 2],
    kernel: [usize; 2],
    stride: [usize; 2],
) -> [(usize, usize); 2] {
    let same = |d: usize| {
        let out = size[d].div_ceil(stride[d]);
        let total = match out {
            0 => 0,
            _ => ((out - 1) * stride[d] + kernel[d]).saturating_sub(size[d]),
        };
        (total / 2, total - total / 2)
    };
    match *padding {
        PaddingConfig2d::Valid => [(0, 0), (0, 0)],
        PaddingConfig2d::Same => [same(0), same(1)],
        PaddingConfig2d::Explicit(top, left, bottom, right) => [(top, bottom), (left, right)],
    }
}

#[cfg(feature = "flex")]
mod flex {
    use burn::backend::flex::{Flex, FlexTensor, Layout};
    use burn::backend::{DispatchAutodiffContext, DispatchTensorKind};
    use burn::prelude::*;
    use burn::tensor::ops::ConvOptions;
    use burn::tensor::{Bytes, DType, Shape};

    type Inputs = (Tensor<4>, Tensor<4>, Option<Tensor<1>>);

    /// The flex tensor inside `t`, or `t` back when it lives elsewhere (another backend, or
    /// an autodiff graph) or is not f32.
    fn plain_f32<const D: usize>(t: Tensor<D>) -> Result<FlexTensor, Tensor<D>> {
        let dispatch = t.into_dispatch();
        let is_plain_flex = matches!(dispatch.kind, DispatchTensorKind::Flex(_))
            && dispatch.autodiff == DispatchAutodiffContext::Disabled;
        if is_plain_flex {
            let flex = Tensor::<D>::from_dispatch(dispatch)
                .try_into_primitive::<Flex>()
                .expect("a plain flex float tensor");
            if flex.dtype() == DType::F32 {
                return Ok(flex);
            }
            return Err(Tensor::from_primitive::<Flex>(flex));
        }
        Err(Tensor::from_dispatch(dispatch))
    }

    /// The convolution on flex, or the inputs back when this kernel does not apply.
    pub(super) fn conv2d(
        x: Tensor<4>,
        weight: Tensor<4>,
        bias: Option<Tensor<1>>,
        options: &ConvOptions<2>,
    ) -> Result<Tensor<4>, Inputs> {
        if options.groups != 1 {
            return Err((x, weight, bias));
        }
        let x = match plain_f32(x) {
            Ok(x) => x,
            Err(x) => return Err((x, weight, bias)),
        };
        let weight = match plain_f32(weight) {
            Ok(w) => w,
            Err(w) => return Err((Tensor::from_primitive::<Flex>(x), w, bias)),
        };
        let bias = match bias.map(plain_f32).transpose() {
            Ok(b) => b,
            Err(b) => {
                let (x, w) = (
                    Tensor::from_primitive::<Flex>(x),
                    Tensor::from_primitive::<Flex>(weight),
                );
                return Err((x, w, Some(b)));
            }
        };
        let (x, weight) = (x.to_contiguous(), weight.to_contiguous());
        let bias = bias.map(|b| b.to_contiguous());
        let shape = |t: &FlexTensor| -> [usize; 4] {
            let s = t.layout().shape();
            [s[0], s[1], s[2], s[3]]
        };
        let geometry = super::Geometry::new(shape(&x), shape(&weight), options);
        let out = super::conv2d_f32(
            x.storage::<f32>(),
            weight.storage::<f32>(),
            bias.as_ref().map(|b| b.storage::<f32>()),
            &geometry,
        );
        let out = FlexTensor::new(
            Bytes::from_elems(out),
            Layout::contiguous(Shape::from(geometry.output_shape().to_vec())),
            DType::F32,
        );
        Ok(Tensor::from_primitive::<Flex>(out))
    }
}

/// The sizes of one convolution (groups 1).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Geometry {
    /// Input `[batch, in, height, width]`.
    input: [usize; 4],
    /// Output channels.
    out_channels: usize,
    /// `[kh, kw]`.
    kernel: [usize; 2],
    stride: [usize; 2],
    dilation: [usize; 2],
    /// `[top, left]` (the bottom and right padding only shape the output size).
    padding: [usize; 2],
    /// `[out_height, out_width]`.
    output: [usize; 2],
}

impl Geometry {
    fn new(input: [usize; 4], weight: [usize; 4], options: &ConvOptions<2>) -> Self {
        let [(top, bottom), (left, right)] = options.padding;
        let out_size = |size: usize, pad: usize, kernel: usize, stride: usize, dilation: usize| {
            (size + pad - dilation * (kernel - 1) - 1) / stride + 1
        };
        let [kh, kw] = [weight[2], weight[3]];
        Geometry {
            input,
            out_channels: weight[0],
            kernel: [kh, kw],
            stride: options.stride,
            dilation: options.dilation,
            padding: [top, left],
            output: [
                out_size(
                    input[2],
                    top + bottom,
                    kh,
                    options.stride[0],
                    options.dilation[0],
                ),
                out_size(
                    input[3],
                    left + right,
                    kw,
                    options.stride[1],
                    options.dilation[1],
                ),
            ],
        }
    }

    fn output_shape(&self) -> [usize; 4] {
        [
            self.input[0],
            self.out_channels,
            self.output[0],
            self.output[1],
        ]
    }

    /// A 1×1 convolution with stride 1 and no padding: the input image is its own im2col.
    fn is_pointwise(&self) -> bool {
        self.kernel == [1, 1]
            && self.stride == [1, 1]
            && self.padding == [0, 0]
            && self.output == [self.input[2], self.input[3]]
    }
}

/// The convolution of NCHW `x` with `[out, in, kh, kw]` `weight`, NCHW out.
fn conv2d_f32(x: &[f32], weight: &[f32], bias: Option<&[f32]>, g: &Geometry) -> Vec<f32> {
    let [batch, channels, height, width] = g.input;
    let image = channels * height * width;
    let pixels = g.output[0] * g.output[1];
    let depth = channels * g.kernel[0] * g.kernel[1];
    let out_image = g.out_channels * pixels;
    let mut out = vec![0.0f32; batch * out_image];
    let pointwise = g.is_pointwise();
    let mut columns = if pointwise {
        Vec::new()
    } else {
        vec![0.0f32; depth * pixels]
    };
    for (x, out) in x.chunks_exact(image).zip(out.chunks_exact_mut(out_image)) {
        let rhs: &[f32] = if pointwise {
            x
        } else {
            im2col(x, &mut columns, g);
            &columns
        };
        if let Some(bias) = bias {
            for (row, &b) in out.chunks_exact_mut(pixels).zip(bias) {
                row.fill(b);
            }
        }
        // out[o, p] (+)= Σ_d weight[o, d] · rhs[d, p]; all three row-major.
        // SAFETY: the slices hold m·k, k·n and m·n elements with the strides given.
        unsafe {
            gemm::gemm(
                g.out_channels,
                pixels,
                depth,
                out.as_mut_ptr(),
                1,
                pixels as isize,
                bias.is_some(),
                weight.as_ptr(),
                1,
                depth as isize,
                rhs.as_ptr(),
                1,
                pixels as isize,
                1.0,
                1.0,
                false,
                false,
                false,
                parallelism(g.out_channels * pixels * depth),
            );
        }
    }
    out
}

/// All cores for GEMMs big enough to split (flex's own threshold).
fn parallelism(work: usize) -> gemm::Parallelism {
    #[cfg(not(target_arch = "wasm32"))]
    if work >= 192 * 192 * 192 {
        return gemm::Parallelism::Rayon(0);
    }
    let _ = work;
    gemm::Parallelism::None
}

/// Fills `columns` (`[in·kh·kw, out_h·out_w]`, rows ordered like the weight's `(in, kh, kw)`)
/// with one image's patches; padding reads as zero.
fn im2col(x: &[f32], columns: &mut [f32], g: &Geometry) {
    let pixels = g.output[0] * g.output[1];
    let row = |(r, dst): (usize, &mut [f32])| im2col_row(x, dst, r, g);
    #[cfg(not(target_arch = "wasm32"))]
    {
        use rayon::prelude::*;
        // About 16 K values per task: enough to pay for a task, small enough for 2–16 cores.
        let rows_per_task = (16_384 / pixels.max(1)).max(1);
        columns
            .par_chunks_mut(pixels)
            .enumerate()
            .with_min_len(rows_per_task)
            .for_each(row);
    }
    #[cfg(target_arch = "wasm32")]
    columns.chunks_mut(pixels).enumerate().for_each(row);
}

/// Row `r = (c·kh + i)·kw + j` of the im2col: input channel `c` seen through kernel tap `(i, j)`.
fn im2col_row(x: &[f32], dst: &mut [f32], r: usize, g: &Geometry) {
    let [_, _, height, width] = g.input;
    let [kh, kw] = g.kernel;
    let out_w = g.output[1];
    let (c, i, j) = (r / (kh * kw), (r / kw) % kh, r % kw);
    let plane = &x[c * height * width..][..height * width];
    // Input column of output column `ow` is `ow·stride + j·dilation − left`.
    let shift = (j * g.dilation[1]) as isize - g.padding[1] as isize;
    let stride = g.stride[1];
    // Output columns whose input column lies inside the image: [first, last).
    let first = if shift >= 0 {
        0
    } else {
        (-shift as usize).div_ceil(stride)
    };
    let last = if width as isize - shift <= 0 {
        0
    } else {
        ((width as isize - shift) as usize)
            .div_ceil(stride)
            .min(out_w)
    };
    let first = first.min(last);
    for (oh, dst) in dst.chunks_exact_mut(out_w).enumerate() {
        let ih = (oh * g.stride[0] + i * g.dilation[0]) as isize - g.padding[0] as isize;
        if ih < 0 || ih >= height as isize {
            dst.fill(0.0);
            continue;
        }
        let src = &plane[ih as usize * width..][..width];
        dst[..first].fill(0.0);
        dst[last..].fill(0.0);
        let start = (first as isize * stride as isize + shift) as usize;
        if stride == 1 {
            dst[first..last].copy_from_slice(&src[start..start + (last - first)]);
        } else {
            for (d, s) in dst[first..last]
                .iter_mut()
                .zip(src[start..].iter().step_by(stride))
            {
                *d = *s;
            }
        }
    }
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use burn::nn::conv::Conv2dConfig;
    use burn::tensor::Distribution;

    /// The largest difference between [`conv2d`] and `conv.forward` (burn's convolution on
    /// flex) on a random input of `shape`; the output shapes must agree.
    fn difference_from_burn(conv: &Conv2d, shape: [usize; 4]) -> f32 {
        let x = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &Device::flex());
        let expected = conv.forward(x.clone());
        let got = conv2d(conv, x);
        assert_eq!(
            got.dims(),
            expected.dims(),
            "output shape for input {shape:?}"
        );
        (got - expected).abs().max().into_scalar::<f32>()
    }

    /// The shapes the network has (3×3 with stride 1 and 2, 1×1 with stride 1 and 2, the 7×7
    /// stem) and edge cases (no padding, a kernel smaller than the stride, rows all padding).
    #[test]
    fn matches_burns_convolution_on_flex() {
        let cases: &[(usize, usize, usize, usize, usize, usize, bool)] = &[
            // (in, out, kernel, stride, padding, size, bias)
            (5, 7, 3, 1, 1, 9, false),
            (5, 7, 3, 2, 1, 9, true),
            (4, 6, 3, 2, 1, 8, false),
            (8, 3, 1, 1, 0, 6, true),
            (8, 3, 1, 2, 0, 7, false),
            (3, 4, 7, 2, 3, 15, false),
            (2, 3, 3, 1, 0, 5, true),
            (2, 3, 2, 3, 2, 4, true),
        ];
        for &(cin, cout, k, stride, pad, size, bias) in cases {
            let conv = Conv2dConfig::new([cin, cout], [k, k])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
                .with_bias(bias)
                .init(&Device::flex());
            let e = difference_from_burn(&conv, [2, cin, size, size + 1]);
            assert!(
                e < 1e-5,
                "case {cin} {cout} {k} {stride} {pad}: max abs difference {e}"
            );
        }
    }

    /// EfficientNet-Lite's TF-style "SAME" (asymmetric at stride 2 on even sizes), and dilation.
    #[test]
    fn same_padding_and_dilation_match_too() {
        for (k, stride, size) in [(3, 2, 8), (5, 2, 9), (3, 1, 7), (1, 2, 6)] {
            let conv = Conv2dConfig::new([3, 5], [k, k])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Same)
                .init(&Device::flex());
            let e = difference_from_burn(&conv, [1, 3, size, size]);
            assert!(
                e < 1e-5,
                "k {k} stride {stride} size {size}: max abs difference {e}"
            );
        }
        let dilated = Conv2dConfig::new([3, 4], [3, 3])
            .with_dilation([2, 2])
            .with_padding(PaddingConfig2d::Explicit(2, 2, 2, 2))
            .init(&Device::flex());
        let e = difference_from_burn(&dilated, [1, 3, 10, 7]);
        assert!(e < 1e-5, "dilation 2: max abs difference {e}");
    }

    /// The kernel takes plain f32 flex tensors with one group and hands anything else back
    /// to burn: the tests above compare the kernel's numbers, not burn's with themselves.
    #[test]
    fn the_kernel_takes_what_it_can_compute_and_hands_back_the_rest() {
        let device = Device::flex();
        let x = Tensor::<4>::random([1, 4, 5, 5], Distribution::Normal(0.0, 1.0), &device);
        let weight = |groups| {
            Tensor::<4>::random(
                [4, 4 / groups, 3, 3],
                Distribution::Normal(0.0, 1.0),
                &device,
            )
        };
        let options =
            |groups| ConvOptions::new_with_padding([1, 1], [(1, 1), (1, 1)], [1, 1], groups);
        assert!(flex::conv2d(x.clone(), weight(1), None, &options(1)).is_ok());
        let handed_back = flex::conv2d(x.clone(), weight(4), None, &options(4));
        assert!(handed_back.is_err_and(|(x2, _, _)| x2.dims() == x.dims()));
        let half = x.clone().cast(burn::tensor::DType::F16);
        assert!(flex::conv2d(half, weight(1), None, &options(1)).is_err());
    }

    /// Grouped (depthwise) convolutions are burn's own: the same numbers exactly.
    #[test]
    fn grouped_convolutions_go_to_burn() {
        let conv = Conv2dConfig::new([4, 4], [3, 3])
            .with_groups(4)
            .init(&Device::flex());
        assert_eq!(difference_from_burn(&conv, [1, 4, 6, 6]), 0.0);
    }
}
