//! The committed default models (`models/`, built by `scripts/make-default-model.sh`) load, tell
//! their defective samples from their good ones, and still compute the scores recorded in the site's
//! model list `models/manifest.json` — through the same path as `rdpp infer` and the web app:
//! `read_rgb8` → `Detector::detect` (OpenCV-exact preprocessing, the network on flex, the official
//! map post-processing), one image per batch.

use std::path::{Path, PathBuf};

use rdpp_inference::bundle::load_bundle;
use rdpp_inference::image_io::{DecodeLimits, read_rgb8};
use rdpp_inference::{Detector, RgbView, Verdict};
use rdpp_model::burn::prelude::*;
use serde_json::Value;

/// Relative tolerance on recorded scores (f32 network; batch and thread splits may differ).
const REL_TOL: f64 = 1e-4;

fn repo_root() -> PathBuf {
    // From the environment `cargo test` sets, so a build cache shared between checkouts never
    // points at another checkout's files.
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| env!("CARGO_MANIFEST_DIR").into(), PathBuf::from)
        .parent()
        .expect("training/ has a parent")
        .to_path_buf()
}

#[test]
fn default_models_score_their_samples_as_recorded() {
    let root = repo_root();
    let list_path = root.join("models/manifest.json");
    let bytes = std::fs::read(&list_path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (the default models are committed; rebuild them with scripts/make-default-model.sh)",
            list_path.display()
        )
    });
    let list: Value = serde_json::from_slice(&bytes).expect("models/manifest.json is JSON");
    assert_eq!(list["format"], "rdpp-models");
    assert_eq!(list["version"], 1);
    let models = list["models"].as_array().expect("models is a list");
    assert!(!models.is_empty(), "no default model listed");
    let default = list["default"].as_str().expect("a default model");
    assert!(
        models.iter().any(|m| m["id"] == default),
        "default {default:?} is not listed"
    );

    let device = Device::flex();
    let limits = DecodeLimits::default();
    for m in models {
        let id = m["id"].as_str().expect("id");
        let bundle_rel = m["bundle"].as_str().expect("bundle");
        assert!(
            bundle_rel.ends_with('/'),
            "{id}: bundle {bundle_rel:?} must end with /"
        );
        // Bundles are relative to the list's folder (models/), samples to the site root.
        let bundle = load_bundle(&root.join("models").join(bundle_rel), &device)
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(
            m["bytes"].as_u64(),
            Some(bundle.manifest.weights.bytes),
            "{id}: listed size vs the bundle's weights"
        );
        let detector = Detector::new(bundle.model, &bundle.manifest, device.clone());
        let threshold = detector
            .threshold()
            .unwrap_or_else(|| panic!("{id}: the default model is calibrated"));

        let samples = m["samples"].as_array().expect("samples");
        let (mut good, mut defect) = (Vec::new(), Vec::new());
        let mut worst_rel = 0.0f64;
        for s in samples {
            let image = s["image"].as_str().expect("image");
            let path = root.join(image);
            let img = read_rgb8(&path, &limits).unwrap_or_else(|e| panic!("{id}: {e}"));
            let score = detector.detect(&[RgbView::from(&img)]).expect("detect")[0].score;
            let recorded = s["score"].as_f64().expect("recorded score");
            worst_rel = worst_rel.max((score - recorded).abs() / recorded.abs());
            assert!(
                (score - recorded).abs() <= REL_TOL * recorded.abs(),
                "{id}: {image} scores {score}, the list records {recorded}"
            );
            // The verdict the CLI and the page show, at the bundle's calibrated threshold: both
            // sides are exercised (every model lists good and defective samples, checked below).
            let want = match s["label"].as_str() {
                Some("defect") => Verdict::Defect,
                _ => Verdict::Good,
            };
            assert_eq!(
                detector.verdict(score),
                want,
                "{id}: {image} scores {score} at the calibrated threshold {threshold}"
            );
            match s["label"].as_str() {
                Some("good") => good.push((score, image)),
                Some("defect") => {
                    let mask = s["mask"].as_str().expect("defective samples have a mask");
                    // Gray masks decode to R = G = B.
                    let mask = read_rgb8(&root.join(mask), &limits)
                        .unwrap_or_else(|e| panic!("{id}: {e}"));
                    assert_eq!(
                        mask.dimensions(),
                        img.dimensions(),
                        "{id}: {image} mask size"
                    );
                    assert!(
                        mask.pixels().any(|p| p.0[0] > 127),
                        "{id}: {image}: empty mask"
                    );
                    defect.push((score, image));
                }
                other => panic!("{id}: {image}: label {other:?}"),
            }
        }
        assert!(
            !good.is_empty() && !defect.is_empty(),
            "{id}: needs good and defective samples"
        );
        let (max_good, worst_good) =
            good.iter().copied().fold(
                (f64::NEG_INFINITY, ""),
                |a, b| if b.0 > a.0 { b } else { a },
            );
        for (score, image) in &defect {
            assert!(
                *score > max_good,
                "{id}: defective {image} scores {score}, not above good {worst_good} ({max_good})"
            );
        }
        eprintln!(
            "{id}: {} good ≤ {max_good:.4} < {} defective ≥ {:.4}; recorded scores within {worst_rel:.1e}",
            good.len(),
            defect.len(),
            defect.iter().map(|d| d.0).fold(f64::INFINITY, f64::min)
        );
    }
}

/// The committed samples are exactly what `rdpp-train synth` writes today with the arguments the
/// list records (`data.synth_args`, run from the repository root): the inputs of the default
/// models are reproducible from the committed texture photo and the generator. If the generator
/// changes on purpose, rebuild the models with `scripts/make-default-model.sh`.
#[test]
fn default_model_samples_are_what_the_generator_writes() {
    let root = repo_root();
    let list: Value =
        serde_json::from_slice(&std::fs::read(root.join("models/manifest.json")).expect("list"))
            .expect("JSON");
    let limits = DecodeLimits::default();
    let pixels = |p: &Path| {
        read_rgb8(p, &limits)
            .unwrap_or_else(|e| panic!("{e}"))
            .into_raw()
    };
    for m in list["models"].as_array().expect("models") {
        let id = m["id"].as_str().expect("id");
        let args: Vec<&str> = m["data"]["synth_args"]
            .as_array()
            .unwrap_or_else(|| panic!("{id}: no data.synth_args"))
            .iter()
            .map(|a| a.as_str().expect("string argument"))
            .collect();
        let tmp = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_rdpp-train"))
            .current_dir(&root)
            .args(["synth", "--out"])
            .arg(tmp.path())
            .args(["--category", id])
            .args(&args)
            .output()
            .expect("run rdpp-train synth");
        assert!(
            out.status.success(),
            "{id}: rdpp-train synth {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let generated = tmp.path().join(id);
        for s in m["samples"].as_array().expect("samples") {
            let image = s["image"].as_str().expect("image");
            let source = s["source"].as_str().expect("source");
            assert!(
                pixels(&root.join(image)) == pixels(&generated.join(source)),
                "{id}: {image} differs from the generator's {source}; rebuild the default models \
                 (scripts/make-default-model.sh)"
            );
            if let (Some(mask), Some(mask_source)) = (s["mask"].as_str(), s["mask_source"].as_str())
            {
                assert!(
                    pixels(&root.join(mask)) == pixels(&generated.join(mask_source)),
                    "{id}: {mask} differs from the generator's {mask_source}"
                );
            }
        }
    }
}
