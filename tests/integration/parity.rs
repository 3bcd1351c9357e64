//! Parity with the official PyTorch computation, stage by stage (docs/method.md §11), on fixtures
//! made by `tests/parity/make_fixtures.py` with weights from the shared formula.

use rdpp_model::anomaly_map::{GAUSSIAN_SIGMA, Map, combine_scale_maps, gaussian_filter};
use rdpp_model::burn::prelude::*;
use rdpp_model::preprocess::preprocess_rgb_u8;
use rdpp_model::{Backbone, FoldBatchNorm, Rdpp, RdppFeatures};
use safetensors::SafeTensors;
use serde_json::Value;

use crate::common::{fixture, formula_model, host, rel_err, rel_err64};

/// Tolerance of features and maps (relative to the tensor's largest magnitude), and of the score.
const TOL: f64 = 1e-4;

struct Fixture {
    bytes: Vec<u8>,
    keys: Value,
}

impl Fixture {
    fn load(backbone: Backbone) -> Fixture {
        let name = backbone.name();
        let path = fixture(&format!("parity/{name}.safetensors"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let keys_path = fixture(&format!("parity/{name}.keys.json"));
        let keys = serde_json::from_slice(&std::fs::read(&keys_path).expect("keys.json"))
            .expect("valid json");
        Fixture { bytes, keys }
    }

    fn tensors(&self) -> SafeTensors<'_> {
        SafeTensors::deserialize(&self.bytes).expect("fixture is safetensors")
    }

    fn f32(&self, name: &str) -> (Vec<f32>, Vec<usize>) {
        let st = self.tensors();
        let t = st
            .tensor(name)
            .unwrap_or_else(|_| panic!("fixture lacks {name}"));
        assert_eq!(t.dtype(), safetensors::Dtype::F32, "{name} dtype");
        let v = t
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        (v, t.shape().to_vec())
    }

    fn f64(&self, name: &str) -> Vec<f64> {
        let st = self.tensors();
        let t = st
            .tensor(name)
            .unwrap_or_else(|_| panic!("fixture lacks {name}"));
        assert_eq!(t.dtype(), safetensors::Dtype::F64, "{name} dtype");
        t.data()
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect()
    }

    fn u8(&self, name: &str) -> (Vec<u8>, Vec<usize>) {
        let st = self.tensors();
        let t = st
            .tensor(name)
            .unwrap_or_else(|_| panic!("fixture lacks {name}"));
        (t.data().to_vec(), t.shape().to_vec())
    }
}

fn check(
    stage: &str,
    ours: Vec<f32>,
    ours_shape: &[usize],
    (reference, ref_shape): (Vec<f32>, Vec<usize>),
) {
    assert_eq!(ours_shape, &ref_shape[..], "{stage}: shape");
    let e = rel_err(&ours, &reference);
    assert!(e <= TOL, "{stage}: relative error {e:.3e} > {TOL:e}");
}

fn dims<const D: usize>(t: &Tensor<D>) -> Vec<usize> {
    t.dims().to_vec()
}

/// Every stage of one backbone on one device.
fn parity(backbone: Backbone, device: &Device) {
    let fx = Fixture::load(backbone);
    let model = formula_model(backbone, &fx.keys, device);

    // Preprocessing: u8 image of odd size → normalized f32 at the fixture's size.
    let (x_ref, x_shape) = fx.f32("x");
    let size = x_shape[3];
    let (rgb, rgb_shape) = fx.u8("input_rgb");
    let x = preprocess_rgb_u8(
        &rgb,
        rgb_shape[1],
        rgb_shape[0],
        size,
        &backbone.normalization(),
    );
    check(
        "preprocess",
        x.clone(),
        &x_shape,
        (x_ref.clone(), x_shape.clone()),
    );

    // The network, fed the reference input so each stage is judged on its own: as trained, and
    // in the inference form (BatchNorms folded) that `Detector` and the trainer's teacher run.
    let input = Tensor::<4>::from_data(TensorData::new(x_ref, x_shape.clone()), device);
    let ours = network_stages(&model, &fx, input.clone(), "as trained");
    let folded = network_stages(&model.fold_batch_norms(), &fx, input, "folded");

    // Post-processing alone, from the reference's own per-scale maps: must agree to f64 noise.
    let ref_scales: Vec<Map<f32>> = (1..=3)
        .map(|i| {
            let (v, s) = fx.f32(&format!("m{i}"));
            Map {
                width: s[1],
                height: s[0],
                data: v,
            }
        })
        .collect();
    // PyTorch's f32 bilinear kernel may contract to FMA: agreement to an f32 ulp, not bits.
    let (sum, blur) = combine_scale_maps(&ref_scales, size);
    let e_sum = rel_err64(&sum.data, &fx.f64("map_sum"));
    let e_blur = rel_err64(&blur.data, &fx.f64("map_blur"));
    assert!(e_sum <= 1e-6, "map sum (reference inputs): {e_sum:.3e}");
    assert!(
        e_blur <= 1e-6,
        "smoothed map (reference inputs): {e_blur:.3e}"
    );
    // scipy's Gaussian alone, on the reference's own f64 sum: the same to f64 rounding.
    let ref_sum = Map {
        width: size,
        height: size,
        data: fx.f64("map_sum"),
    };
    let e_gauss = rel_err64(
        &gaussian_filter(&ref_sum, GAUSSIAN_SIGMA).data,
        &fx.f64("map_blur"),
    );
    assert!(e_gauss <= 1e-14, "gaussian_filter vs scipy: {e_gauss:.3e}");

    // End to end from our own maps, in both forms.
    for (form, ours) in [("as trained", ours), ("folded", folded)] {
        end_to_end(&fx, &ours, size, form);
    }
}

/// The summed and smoothed map and the score from our per-scale maps, against the reference.
fn end_to_end(fx: &Fixture, ours: &[Map<f32>], size: usize, form: &str) {
    let (sum, blur) = combine_scale_maps(ours, size);
    assert!(
        rel_err64(&sum.data, &fx.f64("map_sum")) <= TOL,
        "{form}: summed map"
    );
    assert!(
        rel_err64(&blur.data, &fx.f64("map_blur")) <= TOL,
        "{form}: smoothed map"
    );
    let score = blur.max().expect("non-empty map");
    let score_ref = fx.f64("score")[0];
    assert!(
        (score - score_ref).abs() <= TOL,
        "{form}: score {score} vs {score_ref}"
    );
}

/// Every network stage of `model` on the reference input, judged against the fixture; returns
/// the per-scale maps.
fn network_stages(model: &Rdpp, fx: &Fixture, input: Tensor<4>, form: &str) -> Vec<Map<f32>> {
    let RdppFeatures {
        teacher,
        projected,
        embedding,
        decoded,
    } = model.forward_features(input.clone());
    for (i, t) in teacher.into_iter().enumerate() {
        let s = dims(&t);
        check(
            &format!("{form}: teacher f{}", i + 1),
            host(t),
            &s,
            fx.f32(&format!("f{}", i + 1)),
        );
    }
    for (i, t) in projected.into_iter().enumerate() {
        let s = dims(&t);
        check(
            &format!("{form}: projection p{}", i + 1),
            host(t),
            &s,
            fx.f32(&format!("p{}", i + 1)),
        );
    }
    let s = dims(&embedding);
    check(
        &format!("{form}: OCBE"),
        host(embedding),
        &s,
        fx.f32("ocbe"),
    );
    for (i, t) in decoded.into_iter().enumerate() {
        let s = dims(&t);
        check(
            &format!("{form}: decoder d{}", i + 1),
            host(t),
            &s,
            fx.f32(&format!("d{}", i + 1)),
        );
    }

    // Per-scale maps.
    let maps = model.scale_maps(input);
    let mut ours = Vec::new();
    for (i, m) in maps.into_iter().enumerate() {
        let [_, h, w] = m.dims();
        let v = host(m);
        let (r, rs) = fx.f32(&format!("m{}", i + 1));
        assert_eq!(rs, vec![h, w], "{form}: m{} shape", i + 1);
        let e = v
            .iter()
            .zip(&r)
            .fold(0.0f64, |a, (x, y)| a.max((*x as f64 - *y as f64).abs()));
        assert!(e <= TOL, "{form}: m{}: absolute error {e:.3e}", i + 1);
        ours.push(Map {
            width: w,
            height: h,
            data: v,
        });
    }

    ours
}

#[test]
fn wide_resnet50_2_matches_pytorch_on_flex() {
    parity(Backbone::WideResnet50_2, &Device::flex());
}

#[test]
fn resnet18_matches_pytorch_on_flex() {
    parity(Backbone::Resnet18, &Device::flex());
}

#[test]
fn efficientnet_lite0_matches_pytorch_on_flex() {
    parity(Backbone::EfficientnetLite0, &Device::flex());
}

#[test]
fn efficientnet_lite2_matches_pytorch_on_flex() {
    parity(Backbone::EfficientnetLite2, &Device::flex());
}

/// The same network on a GPU backend (wgpu; lavapipe in CI).
#[cfg(feature = "wgpu")]
#[test]
#[ignore = "needs a wgpu adapter (e.g. Mesa's lavapipe); scripts/test.sh runs it"]
fn wide_resnet50_2_matches_pytorch_on_wgpu() {
    let device = rdpp_inference::Backend::Wgpu
        .device()
        .unwrap_or_else(|e| panic!("this test needs a wgpu adapter: {e}"));
    parity(Backbone::WideResnet50_2, &device);
}

/// OpenCV's resampler pinned on several sizes (downscale by a non-integer factor, upscale,
/// grayscale replicated to RGB).
#[test]
fn preprocessing_resize_matches_opencv() {
    let path = fixture("parity/preprocess.safetensors");
    let bytes = std::fs::read(&path).expect("preprocess fixture");
    let st = SafeTensors::deserialize(&bytes).expect("safetensors");
    let mut checked = 0;
    for (name, view) in st.tensors() {
        let Some(case) = name.strip_suffix("_input") else {
            continue;
        };
        // `rgb_input` is resized to 64 (its 256 version is pinned by hash only).
        let out = st
            .tensor(&format!("{case}_resized"))
            .or_else(|_| st.tensor(&format!("{case}_resized_s64")))
            .expect("resized twin");
        let expected: Vec<f64> = out
            .data()
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8")))
            .collect();
        let shape = view.shape();
        let (h, w) = (shape[0], shape[1]);
        let rgb: Vec<u8> = if shape.len() == 2 {
            view.data().iter().flat_map(|&g| [g, g, g]).collect()
        } else {
            view.data().to_vec()
        };
        let size = out.shape()[0];
        let ours = rdpp_model::preprocess::resize_rgb_u8(&rgb, w, h, size);
        // Gray references are stored as one plane: all three of our channels must equal it.
        let channels = if shape.len() == 2 { 3 } else { 1 };
        assert_eq!(ours.len(), expected.len() * channels, "{case}: size");
        let e = ours
            .iter()
            .enumerate()
            .map(|(i, v)| (v, &expected[if channels == 3 { i / 3 } else { i }]))
            .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        assert!(
            e == 0.0,
            "{case}: max abs error {e:e} vs OpenCV (expected bit-exact)"
        );
        checked += 1;
    }
    assert!(checked >= 3, "only {checked} resize cases in the fixture");
}
