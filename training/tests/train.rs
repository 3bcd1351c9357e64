//! `rdpp-train` end to end: it learns a synthetic defect data set, resumes exactly after an
//! interruption, and refuses bad input with specific errors.

use std::path::Path;
use std::process::{Command, Output};

use rdpp_data::{SyntheticKind, SyntheticSpec, generate};
use rdpp_inference::bundle::{
    Provenance, WeightsDType, load_bundle, manifest_for, weights_to_bytes, write_bundle,
};
use rdpp_model::burn::prelude::*;
use rdpp_model::{Backbone, RdppConfig};

fn train(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rdpp-train"))
        .args(args)
        .output()
        .expect("run rdpp-train")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn synth(root: &Path, size: u32, n_train: usize, seed: u64) -> String {
    let mut spec = SyntheticSpec::new(SyntheticKind::Texture, seed);
    spec.size = size;
    spec.n_train = n_train;
    generate(root, &spec).expect("generate");
    spec.category
}

/// A lite0 teacher bundle with formula weights (no download needed).
fn formula_teacher(dir: &Path) {
    let device = Device::flex();
    let mut model = RdppConfig::new(Backbone::EfficientnetLite0).init(&device);
    rdpp_testkit::fill_with_formula(&mut model);
    let w = weights_to_bytes(&model, WeightsDType::F32).unwrap();
    let m = manifest_for(
        "teacher",
        Backbone::EfficientnetLite0,
        64,
        &w,
        WeightsDType::F32,
        None,
        Provenance::default(),
    );
    write_bundle(dir, &m, &w).unwrap();
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The real ImageNet teacher teaches the student enough, in 30 epochs on the CPU, to find the
/// generated defects: image and pixel AUROC well above chance on the held-out test split.
#[test]
#[ignore = "needs RDPP_LITE0_PTH (scripts/fetch-lite0.sh); scripts/test.sh runs it"]
fn learns_a_synthetic_texture_with_the_imagenet_lite0_teacher() {
    let pth = std::env::var_os("RDPP_LITE0_PTH").expect(
        "RDPP_LITE0_PTH must name efficientnet-lite0-57934424.pth (run scripts/fetch-lite0.sh)",
    );
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let category = synth(&data, 128, 24, 1);
    let out = tmp.path().join("run");
    let o = train(&[
        "train",
        "--data",
        s(&data),
        "--category",
        &category,
        "--teacher",
        pth.to_str().unwrap(),
        "--backbone",
        "efficientnet_lite0",
        "--image-size",
        "128",
        "--batch-size",
        "8",
        "--epochs",
        "30",
        "--out",
        s(&out),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let image = report["image_auroc"].as_f64().unwrap();
    let pixel = report["pixel_auroc"].as_f64().unwrap();
    assert!(
        image > 0.9 && pixel > 0.9,
        "image AUROC {image}, pixel AUROC {pixel}"
    );
    // The exported bundle loads, is calibrated on held-out normals, and says how it was selected.
    let b = load_bundle(&out.join("bundle"), &Device::flex()).unwrap();
    let cal = b.manifest.calibration.expect("calibrated");
    assert!(cal.map_low < cal.image_threshold && cal.image_threshold < cal.map_high);
    let sel = b.manifest.provenance.details["selection"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(sel.contains("not used for selection"), "{sel}");
    let csv = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    assert_eq!(csv.lines().count(), 31, "header + one line per epoch");
}

/// Run the same small training twice: uninterrupted, and stopped after three optimizer steps
/// then resumed. Returns both output folders.
fn interrupted_and_full(tmp: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let data = tmp.join("data");
    let category = synth(&data, 64, 8, 3);
    let teacher = tmp.join("teacher");
    formula_teacher(&teacher);
    let common = |out: &Path| -> Vec<String> {
        [
            "train",
            "--data",
            s(&data),
            "--category",
            &category,
            "--teacher",
            s(&teacher),
            "--backbone",
            "efficientnet_lite0",
            "--image-size",
            "64",
            "--batch-size",
            "2",
            "--epochs",
            "2",
            "--out",
            s(out),
        ]
        .iter()
        .map(|v| v.to_string())
        .collect()
    };
    let run = |args: Vec<String>| {
        let o = train(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(o.status.success(), "{}", text(&o));
    };
    let full = tmp.join("full");
    let args = common(&full);
    let o = train(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let log = text(&o);
    assert!(o.status.success(), "{log}");
    // stderr is a pipe here, so the progress bar is hidden and each epoch gets a log line.
    for epoch in ["epoch 1/2: loss ", "epoch 2/2: loss "] {
        assert!(log.contains(epoch), "no {epoch:?} line: {log}");
    }
    assert!(log.contains("img/s, eta "), "{log}");
    let split = tmp.join("split");
    let mut first = common(&split);
    first.extend(["--max-steps".into(), "3".into()]);
    run(first);
    assert!(split.join("checkpoint/state.json").is_file());
    assert!(
        !split.join("bundle").exists(),
        "an interrupted run exports nothing"
    );
    let mut second = common(&split);
    second.push("--resume".into());
    run(second);
    (full, split)
}

fn tensors(path: &Path) -> Vec<(String, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut v: Vec<(String, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(n, t)| (n, t.data().to_vec()))
        .collect();
    v.sort();
    v
}

/// A resumed run replays exactly the same data order, pseudo-anomalies and weights as an
/// uninterrupted one: every epoch's mean losses agree.
#[test]
fn resume_continues_with_the_same_batches_and_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let (full, split) = interrupted_and_full(tmp.path());
    let losses = |p: &Path| -> Vec<String> {
        // Everything but images/s (a timing).
        std::fs::read_to_string(p.join("metrics.csv"))
            .unwrap()
            .lines()
            .map(|l| {
                l.split(',')
                    .enumerate()
                    .filter(|(i, _)| *i != 6)
                    .map(|(_, v)| v)
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect()
    };
    assert_eq!(losses(&full), losses(&split));
    assert_eq!(losses(&full).len(), 3);
}

/// Stopped after three optimizer steps and resumed, a run ends with exactly the weights of an
/// uninterrupted one (CPU, fixed seed): weights, Adam moments (keyed by parameter ids, which the
/// burnpack checkpoint preserves), data order and pseudo-anomalies are all restored.
#[test]
fn resume_after_interruption_matches_an_uninterrupted_run_bit_for_bit() {
    let tmp = tempfile::tempdir().unwrap();
    let (full, split) = interrupted_and_full(tmp.path());
    assert!(
        tensors(&full.join("bundle/model.safetensors"))
            == tensors(&split.join("bundle/model.safetensors")),
        "resumed weights differ from the uninterrupted run"
    );
}

#[test]
fn bad_input_gets_specific_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let teacher = tmp.path().join("teacher");
    formula_teacher(&teacher);
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = tmp.path().join("o");
    let o = train(&[
        "train",
        "--layout",
        "folder",
        "--data",
        s(&empty),
        "--teacher",
        s(&teacher),
        "--backbone",
        "efficientnet_lite0",
        "--out",
        s(&out),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    // Not just "empty": the folder's own path says that already, whatever the error.
    assert!(
        text(&o).contains(&format!(
            "training folder {} holds no image files",
            empty.display()
        )),
        "{}",
        text(&o)
    );

    let cfg = tmp.path().join("c.toml");
    std::fs::write(&cfg, "learning_rate = 3\n").unwrap();
    let o = train(&[
        "train",
        "--layout",
        "folder",
        "--data",
        s(&empty),
        "--teacher",
        s(&teacher),
        "--config",
        s(&cfg),
        "--out",
        s(&out),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    // The key alone would also appear in a TOML syntax error's quoted source line.
    assert!(
        text(&o).contains("unknown field `learning_rate`"),
        "{}",
        text(&o)
    );

    let missing = tmp.path().join("nope");
    let o = train(&[
        "train",
        "--data",
        s(&missing),
        "--category",
        "bottle",
        "--teacher",
        s(&teacher),
        "--out",
        s(&out),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains(&format!(
            "MVTec AD root folder not found: {}",
            missing.display()
        )),
        "{}",
        text(&o)
    );

    // Resuming a lite0 run as a wide_resnet50_2 run.
    let data = tmp.path().join("data");
    let category = synth(&data, 64, 4, 5);
    let run = tmp.path().join("run");
    let o = train(&[
        "train",
        "--data",
        s(&data),
        "--category",
        &category,
        "--teacher",
        s(&teacher),
        "--backbone",
        "efficientnet_lite0",
        "--image-size",
        "64",
        "--batch-size",
        "2",
        "--epochs",
        "1",
        "--out",
        s(&run),
        "--max-steps",
        "1",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = train(&[
        "train",
        "--data",
        s(&data),
        "--category",
        &category,
        "--teacher",
        s(&teacher),
        "--backbone",
        "wide_resnet50_2",
        "--image-size",
        "64",
        "--out",
        s(&run),
        "--resume",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("efficientnet_lite0"), "{}", text(&o));
}

/// `rdpp-train bench-worker` (what `rdpp-train bench` runs in a fresh process) times one tiny
/// training step and prints one JSON measurement with a positive throughput and finite losses;
/// `bench` refuses impossible sizes with a clear message.
#[test]
fn bench_worker_times_one_training_step_and_prints_json() {
    let o = Command::new(env!("CARGO_BIN_EXE_rdpp-train"))
        .args([
            "bench-worker",
            "--backbone",
            "efficientnet_lite0",
            "--size",
            "64",
            "--batch",
            "2",
            "--steps",
            "1",
            "--warmup",
            "0",
            "--backend",
            "flex",
        ])
        .env("RAYON_NUM_THREADS", "2")
        .output()
        .expect("run rdpp-train bench-worker");
    assert!(o.status.success(), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON line in {stdout}"));
    let m: serde_json::Value = serde_json::from_str(line).expect("parseable JSON");
    assert_eq!(m["impl"], "rdpp-flex");
    assert_eq!(m["batch"], 2);
    assert_eq!(m["threads"], 2);
    let ips = m["images_per_s"].as_f64().expect("images_per_s");
    assert!(ips > 0.0 && ips.is_finite(), "{line}");
    assert!(m["peak_rss_mb"].as_f64().unwrap() > 0.0, "{line}");
    let total = m["first_losses"]["total"].as_f64().expect("first_losses");
    assert!(total.is_finite() && total > 0.0, "{line}");

    let o = train(&["bench", "--size", "100", "--no-torch"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("multiple of 32"), "{}", text(&o));
}

/// A folder of good images and folders of test images someone called good or bad, without
/// masks: the run still reports (image metrics only, said so), with the thresholds to choose
/// between, instead of silently writing no report.
#[test]
fn folder_with_image_labels_only_gets_an_image_level_report() {
    let tmp = tempfile::tempdir().unwrap();
    let teacher = tmp.path().join("teacher");
    formula_teacher(&teacher);
    let data = tmp.path().join("data");
    let category = synth(&data, 64, 6, 7);
    let cat = data.join(&category);
    let defects = tmp.path().join("defects");
    std::fs::create_dir_all(&defects).unwrap();
    for kind in ["hole", "stain"] {
        for f in std::fs::read_dir(cat.join("test").join(kind)).unwrap() {
            let f = f.unwrap().path();
            let name = format!("{kind}_{}", f.file_name().unwrap().to_string_lossy());
            std::fs::copy(&f, defects.join(name)).unwrap();
        }
    }
    let out = tmp.path().join("run");
    let o = train(&[
        "train",
        "--layout",
        "folder",
        "--data",
        s(&cat.join("train/good")),
        "--test-good",
        s(&cat.join("test/good")),
        "--test-defect",
        s(&defects),
        "--teacher",
        s(&teacher),
        "--backbone",
        "efficientnet_lite0",
        "--image-size",
        "64",
        "--batch-size",
        "2",
        "--epochs",
        "1",
        "--out",
        s(&out),
    ]);
    let log = text(&o);
    assert!(o.status.success(), "{log}");
    assert!(log.contains("image metrics only"), "{log}");
    assert!(log.contains("at the calibrated threshold"), "{log}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert!(report["image_auroc"].is_f64(), "{report}");
    assert!(report["pixel_auroc"].is_null(), "{report}");
    assert_eq!(report["counts"]["anomalous_images"], 6);
    let rules: Vec<&str> = report["operating_points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["calibrated", "f1", "recall99"]);
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("no defective image has a mask"), "{md}");
    assert!(out.join("scores.csv").is_file() && out.join("histogram.png").is_file());
    // The bundle's threshold is the calibrated operating point's.
    let b = load_bundle(&out.join("bundle"), &Device::flex()).unwrap();
    assert_eq!(
        Some(b.manifest.calibration.unwrap().image_threshold),
        report["operating_points"][0]["threshold"].as_f64()
    );
}

/// `scripts/ablation.sh --quick` (one set, one seed, tiny images, one epoch) trains every
/// variant and writes its table: a row per variant with a value for each metric (the numbers
/// themselves are the README's, from the full run).
#[test]
#[ignore = "needs RDPP_LITE0_PTH (scripts/fetch-lite0.sh); scripts/test.sh runs it"]
fn ablation_script_with_the_lite0_teacher_writes_its_table() {
    let pth = std::env::var("RDPP_LITE0_PTH").expect("RDPP_LITE0_PTH");
    let tmp = tempfile::tempdir().unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap();
    let o = Command::new("bash")
        .arg(root.join("scripts/ablation.sh"))
        .arg("--quick")
        .env("RDPP_TRAIN", env!("CARGO_BIN_EXE_rdpp-train"))
        .env("RDPP_LITE0_PTH", &pth)
        .env("OUT", tmp.path())
        .output()
        .expect("run scripts/ablation.sh");
    assert!(o.status.success(), "{}", text(&o));
    let table = std::fs::read_to_string(tmp.path().join("table.md")).unwrap();
    for variant in ["rdpp", "no_ssot", "no_contrast", "no_reconstruct", "rd"] {
        let row = table
            .lines()
            .find(|l| l.starts_with(&format!("| brick | {variant} |")))
            .unwrap_or_else(|| panic!("no row for {variant}:\n{table}"));
        let cells: Vec<&str> = row
            .split('|')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        assert_eq!(cells.len(), 5, "{row}");
        for c in &cells[2..] {
            let (mean, std) = c.split_once(" ± ").unwrap_or_else(|| panic!("{row}"));
            let mean: f64 = mean.parse().unwrap_or_else(|_| panic!("{row}"));
            assert!(
                (0.0..=100.0).contains(&mean) && std.parse::<f64>().is_ok(),
                "{row}"
            );
        }
    }
    let csv = std::fs::read_to_string(tmp.path().join("results.csv")).unwrap();
    assert_eq!(
        csv.lines().count(),
        6,
        "header + one run per variant:\n{csv}"
    );
}
