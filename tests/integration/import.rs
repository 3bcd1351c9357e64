//! The `.pth` importers on real files: EfficientNet-Lite0's and -Lite2's ImageNet weights (legacy
//! pickle, non-contiguous tensors) and hand-made checkpoints that must be refused with names.

use std::path::PathBuf;

use rdpp_inference::ImportError;
use rdpp_inference::import::{import_checkpoint, import_teacher};
use rdpp_model::burn::prelude::*;
use rdpp_model::{Backbone, RdppConfig};
use safetensors::SafeTensors;

use crate::common::{fixture, host};

/// Real Lite weights named by `var` (`RDPP_LITE0_PTH`, `RDPP_LITE2_PTH`), fetched by
/// `scripts/fetch-lite.sh` (the test command sets them and runs the tests that need them, which
/// are ignored otherwise).
fn lite_pth(var: &str) -> PathBuf {
    std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("{var} must name the weights (run scripts/fetch-lite.sh)"))
}

/// Import real Lite weights as the teacher of `backbone` and compare its three taps with
/// PyTorch's on the parity input (`import/<variant>_real_taps.safetensors`).
fn real_lite_teacher_matches_pytorch(backbone: Backbone, pth: PathBuf, taps_fixture: &str) {
    let device = Device::flex();
    let mut model = RdppConfig::new(backbone).init(&device);
    let report = import_teacher(&mut model, backbone, &pth).expect("import");
    assert!(report.is_complete());
    // The stem and the blocks up to the last tap are applied; the later blocks, the head and the
    // BN counters are skipped.
    let after_last_tap = backbone.lite_spec().expect("a Lite backbone").tap_blocks[2] + 1;
    assert!(
        report
            .ignored
            .iter()
            .any(|(n, _)| n.starts_with(&format!("_blocks.{after_last_tap}."))),
        "{:?}",
        report.ignored
    );
    assert!(report.ignored.iter().any(|(n, _)| n == "_fc.weight"));
    assert!(
        report
            .ignored
            .iter()
            .any(|(n, _)| n.ends_with("num_batches_tracked"))
    );

    let bytes = std::fs::read(fixture(taps_fixture)).expect("taps fixture");
    let st = SafeTensors::deserialize(&bytes).expect("safetensors");
    let read = |name: &str| -> (Vec<f32>, Vec<usize>) {
        let t = st.tensor(name).expect("tensor");
        (
            t.data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            t.shape().to_vec(),
        )
    };
    let (x, xs) = read("x");
    let taps = model
        .teacher
        .forward(Tensor::from_data(TensorData::new(x, xs), &device));
    for (i, tap) in taps.into_iter().enumerate() {
        let (reference, shape) = read(&format!("f{}", i + 1));
        assert_eq!(tap.dims().to_vec(), shape);
        let ours = host(tap);
        // |Δ| ≤ 1e-4 + 1e-4·|ref| elementwise (ImageNet features reach ~54 here).
        for (j, (a, b)) in ours.iter().zip(&reference).enumerate() {
            assert!(
                (a - b).abs() <= 1e-4 + 1e-4 * b.abs(),
                "f{} [{j}]: {a} vs {b}",
                i + 1
            );
        }
    }
}

#[test]
#[ignore = "needs RDPP_LITE0_PTH (scripts/fetch-lite.sh lite0); scripts/test.sh runs it"]
fn real_lite0_teacher_imports_and_matches_pytorch() {
    real_lite_teacher_matches_pytorch(
        Backbone::EfficientnetLite0,
        lite_pth("RDPP_LITE0_PTH"),
        "import/lite0_real_taps.safetensors",
    );
}

#[test]
#[ignore = "needs RDPP_LITE2_PTH (scripts/fetch-lite.sh lite2); scripts/test.sh runs it"]
fn real_lite2_teacher_imports_and_matches_pytorch() {
    real_lite_teacher_matches_pytorch(
        Backbone::EfficientnetLite2,
        lite_pth("RDPP_LITE2_PTH"),
        "import/lite2_real_taps.safetensors",
    );
}

fn expect_mismatch(result: Result<impl std::fmt::Debug, ImportError>, needles: &[&str]) {
    match result {
        Err(e @ ImportError::Mismatch { .. }) => {
            let message = e.to_string();
            for n in needles {
                assert!(message.contains(n), "message lacks {n}:\n{message}");
            }
        }
        other => panic!("expected a mismatch, got {other:?}"),
    }
}

#[test]
fn tiny_checkpoints_are_refused_with_names_in_both_pickle_formats() {
    for file in [
        "import/tiny_checkpoint.pth",
        "import/tiny_checkpoint_legacy.pth",
    ] {
        for backbone in [Backbone::WideResnet50_2, Backbone::EfficientnetLite0] {
            let device = Device::flex();
            let mut model = RdppConfig::new(backbone).init(&device);
            // The first part (proj) already fails: a wrong shape and missing layers, by name.
            expect_mismatch(
                import_checkpoint(&mut model, backbone, &fixture(file)),
                &[
                    "'proj' part",
                    "projection.proj_a.proj.0.weight: model expects",
                    "missing",
                    "projection.proj_a.proj.1.bias",
                ],
            );
        }
    }
}

#[test]
fn another_architecture_is_refused_as_teacher_and_checkpoint() {
    let device = Device::flex();
    let mut model = RdppConfig::new(Backbone::Resnet18).init(&device);
    expect_mismatch(
        import_teacher(
            &mut model,
            Backbone::Resnet18,
            &fixture("import/other_architecture.pth"),
        ),
        &[
            "resnet18 teacher",
            "teacher.conv1.weight",
            "unexpected",
            "teacher.0.weight",
        ],
    );
    match import_checkpoint(
        &mut model,
        Backbone::Resnet18,
        &fixture("import/other_architecture.pth"),
    ) {
        Err(ImportError::Read { detail, .. }) => assert!(detail.contains("'proj'"), "{detail}"),
        other => panic!("expected a read error naming the missing 'proj' dict, got {other:?}"),
    }
}

#[test]
fn garbage_and_missing_files_are_read_errors() {
    let device = Device::flex();
    let mut model = RdppConfig::new(Backbone::Resnet18).init(&device);
    for path in [
        fixture("import/not_a_checkpoint.pth"),
        fixture("import/does_not_exist.pth"),
    ] {
        match import_teacher(&mut model, Backbone::Resnet18, &path) {
            Err(e @ ImportError::Read { .. }) => {
                assert!(
                    e.to_string()
                        .contains(path.file_name().unwrap().to_str().unwrap()),
                    "{e}"
                )
            }
            other => panic!("{}: expected a read error, got {other:?}", path.display()),
        }
    }
}
