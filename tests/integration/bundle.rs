//! The bundle format: round trips in f32 and f16, and every way a bundle can be broken.

use std::path::Path;

use rdpp_inference::bundle::{
    self, MANIFEST_FILE, Manifest, Provenance, WeightsDType, load_bundle, manifest_for,
    weights_to_bytes, write_bundle,
};
use rdpp_inference::{BundleError, Calibration};
use rdpp_model::burn::prelude::*;
use rdpp_model::{Backbone, Rdpp, RdppConfig};

use crate::common::{host, rel_err};

const SIZE: usize = 64;

fn lite0(device: &Device) -> Rdpp {
    RdppConfig::new(Backbone::EfficientnetLite0).init(device)
}

fn input(device: &Device) -> Tensor<4> {
    let v: Vec<f32> = (0..3 * SIZE * SIZE)
        .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
        .collect();
    Tensor::from_data(TensorData::new(v, [1, 3, SIZE, SIZE]), device)
}

fn maps(model: &Rdpp, device: &Device) -> Vec<f32> {
    model
        .scale_maps(input(device))
        .into_iter()
        .flat_map(host)
        .collect()
}

fn save(dir: &Path, model: &Rdpp, dtype: WeightsDType) -> Manifest {
    let weights = weights_to_bytes(model, dtype).expect("serialize");
    let calibration = Calibration {
        image_threshold: 0.5,
        map_low: 0.1,
        map_high: 0.9,
        method: "test".into(),
    };
    let m = manifest_for(
        "test",
        Backbone::EfficientnetLite0,
        SIZE,
        &weights,
        dtype,
        Some(calibration),
        Provenance::default(),
    );
    write_bundle(dir, &m, &weights).expect("write");
    m
}

#[test]
fn f32_round_trip_is_exact() {
    let device = Device::flex();
    let model = lite0(&device);
    let dir = tempfile::tempdir().unwrap();
    let m = save(dir.path(), &model, WeightsDType::F32);
    let loaded = load_bundle(dir.path(), &device).expect("load");
    assert_eq!(loaded.manifest, m);
    assert_eq!(maps(&model, &device), maps(&loaded.model, &device));
}

/// The same weights always give the same file (and sha256), whatever order burn's writer puts
/// its header metadata in: each export builds a fresh hash map, so several exports would differ.
#[test]
fn exports_of_the_same_weights_are_byte_identical() {
    let device = Device::flex();
    let model = lite0(&device);
    let first = weights_to_bytes(&model, WeightsDType::F16).expect("serialize");
    for _ in 0..6 {
        assert!(weights_to_bytes(&model, WeightsDType::F16).expect("serialize") == first);
    }
    let n = u64::from_le_bytes(first[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&first[8..8 + n]).unwrap();
    let meta = header["__metadata__"].as_object().expect("metadata");
    let keys: Vec<&String> = meta.keys().collect();
    let text = std::str::from_utf8(&first[8..8 + n]).unwrap();
    let positions: Vec<usize> = keys
        .iter()
        .map(|k| text.find(&format!("\"{k}\":")).unwrap())
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "metadata keys in sorted order"
    );
}

#[test]
fn f16_round_trip_is_close_and_half_the_size() {
    let device = Device::flex();
    let model = lite0(&device);
    let (d32, d16) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let m32 = save(d32.path(), &model, WeightsDType::F32);
    let m16 = save(d16.path(), &model, WeightsDType::F16);
    assert!(
        m16.weights.bytes * 10 < m32.weights.bytes * 6,
        "{} vs {}",
        m16.weights.bytes,
        m32.weights.bytes
    );
    let loaded = load_bundle(d16.path(), &device).expect("load f16");
    let e = rel_err(&maps(&loaded.model, &device), &maps(&model, &device));
    assert!(e < 2e-2, "f16 maps differ by {e}");
}

fn broken(edit: impl FnOnce(&Path)) -> BundleError {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    save(dir.path(), &lite0(&device), WeightsDType::F32);
    edit(dir.path());
    match load_bundle(dir.path(), &device) {
        Ok(_) => panic!("a broken bundle loaded"),
        Err(e) => e,
    }
}

fn edit_manifest(dir: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join(MANIFEST_FILE);
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(path, serde_json::to_vec(&v).unwrap()).unwrap();
}

#[test]
fn corrupted_weights_fail_the_checksum() {
    let e = broken(|d| {
        let p = d.join(bundle::WEIGHTS_FILE);
        let mut b = std::fs::read(&p).unwrap();
        let n = b.len() - 10;
        b[n] ^= 0xff;
        std::fs::write(p, b).unwrap();
    });
    assert!(matches!(e, BundleError::Checksum { .. }), "{e}");
    assert!(e.to_string().contains("model.safetensors"), "{e}");
}

#[test]
fn missing_weights_file_is_named() {
    let e = broken(|d| std::fs::remove_file(d.join(bundle::WEIGHTS_FILE)).unwrap());
    assert!(matches!(e, BundleError::Io { .. }), "{e}");
    assert!(e.to_string().contains("model.safetensors"), "{e}");
}

#[test]
fn newer_format_version_asks_for_an_upgrade() {
    let e = broken(|d| edit_manifest(d, |v| v["format_version"] = 99.into()));
    assert!(
        matches!(e, BundleError::UnsupportedVersion { found: 99, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("upgrade"), "{e}");
}

#[test]
fn other_json_is_not_a_bundle() {
    let e = broken(|d| std::fs::write(d.join(MANIFEST_FILE), br#"{"hello": 1}"#).unwrap());
    assert!(matches!(e, BundleError::NotABundle { .. }), "{e}");
    let e = broken(|d| std::fs::write(d.join(MANIFEST_FILE), b"{ not json").unwrap());
    assert!(matches!(e, BundleError::Manifest { .. }), "{e}");
}

#[test]
fn weights_of_another_architecture_are_listed_by_name() {
    // Lite0 weights under a manifest that claims resnet18: checksum fine, tensors do not fit.
    let e = broken(|d| edit_manifest(d, |v| v["backbone"] = "resnet18".into()));
    match &e {
        BundleError::Mismatch { report, .. } => {
            assert!(report.contains("missing"), "{report}");
            assert!(report.contains("teacher.conv1.weight"), "{report}");
            assert!(report.contains("unexpected"), "{report}");
            assert!(
                report.contains("bottleneck.bn_layer.0.conv3.weight"),
                "{report}"
            );
            assert!(
                report.contains("projection.proj_a.proj.0.weight: model expects [32, 64, 3, 3], file has [12, 24, 3, 3]"),
                "{report}"
            );
        }
        other => panic!("expected a mismatch, got {other}"),
    }
}

#[test]
fn unsafe_or_odd_manifest_values_are_refused() {
    let e = broken(|d| edit_manifest(d, |v| v["weights"]["file"] = "../../etc/passwd".into()));
    assert!(matches!(e, BundleError::Invalid { .. }), "{e}");
    let e = broken(|d| edit_manifest(d, |v| v["input_size"] = 100.into()));
    assert!(e.to_string().contains("input_size 100"), "{e}");
    let e = broken(|d| edit_manifest(d, |v| v["backbone"] = "vgg16".into()));
    assert!(matches!(e, BundleError::Manifest { .. }), "{e}");
}
