//! The `rdpp` binary end to end: bundles in, maps/overlays/scores out, bad input reported.

use std::path::Path;
use std::process::{Command, Output};

use rdpp_inference::bundle::{
    Provenance, WeightsDType, manifest_for, weights_to_bytes, write_bundle,
};
use rdpp_inference::image_io::{DecodeLimits, read_rgb8};
use rdpp_inference::rdpp_model::burn::prelude::*;
use rdpp_inference::rdpp_model::{Backbone, RdppConfig};
use rdpp_inference::{Calibration, Detector, RgbView};

fn rdpp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rdpp"))
        .args(args)
        .output()
        .expect("run rdpp")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A small (lite0, 64 px) bundle with fixed random weights and a calibration.
fn make_bundle(dir: &Path) {
    let device = Device::flex();
    let mut model = RdppConfig::new(Backbone::EfficientnetLite0).init(&device);
    rdpp_testkit::fill_with_formula(&mut model);
    let weights = weights_to_bytes(&model, WeightsDType::F32).unwrap();
    let cal = Calibration {
        image_threshold: 0.0,
        map_low: 0.0,
        map_high: 3.0,
        method: "test".into(),
    };
    let m = manifest_for(
        "cli-test",
        Backbone::EfficientnetLite0,
        64,
        &weights,
        WeightsDType::F32,
        Some(cal),
        Provenance::default(),
    );
    write_bundle(dir, &m, &weights).unwrap();
}

fn image(path: &Path, w: u32, h: u32, seed: u32) {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            ((x * 7 + seed) % 256) as u8,
            ((y * 5 + seed * 3) % 256) as u8,
            ((x + y + seed) % 256) as u8,
        ])
    });
    img.save(path).unwrap();
}

#[test]
fn infer_writes_maps_overlays_and_scores_and_lists_bad_files() {
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("bundle");
    make_bundle(&bundle);
    let imgs = tmp.path().join("imgs");
    std::fs::create_dir_all(imgs.join("sub")).unwrap();
    image(&imgs.join("a.png"), 80, 60, 1);
    image(&imgs.join("sub/b.jpg"), 50, 70, 2);
    image(&imgs.join("sub/c.bmp"), 64, 64, 3);
    std::fs::write(
        imgs.join("broken.png"),
        b"\x89PNG\r\n\x1a\nthis is not a png",
    )
    .unwrap();
    std::fs::write(imgs.join("empty.jpg"), b"").unwrap();
    std::fs::write(imgs.join("notes.txt"), b"ignored: not an image extension").unwrap();
    let out = tmp.path().join("out");

    let o = rdpp(&[
        "infer",
        "--model",
        bundle.to_str().unwrap(),
        imgs.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--batch",
        "2",
    ]);
    let log = text(&o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "bad files must give exit code 1: {log}"
    );
    assert!(
        log.contains("broken.png") && log.contains("empty.jpg"),
        "{log}"
    );
    assert!(
        !log.contains("notes.txt"),
        "non-image extensions in folders are not inputs: {log}"
    );
    assert!(!log.contains("panicked"), "{log}");
    // stderr is a pipe here, so the progress bar is hidden and progress lines are printed.
    assert!(log.contains("images 5/5, "), "{log}");

    for stem in ["a", "sub/b", "sub/c"] {
        let npy = out.join(format!("{stem}.npy"));
        let bytes =
            std::fs::read(&npy).unwrap_or_else(|_| panic!("{} missing; {log}", npy.display()));
        let arr = npyz::NpyFile::new(&bytes[..]).unwrap();
        assert_eq!(arr.shape(), &[64, 64]);
        let overlay = image::open(out.join(format!("{stem}.overlay.png"))).unwrap();
        let (w, h) = read_rgb8(
            &imgs.join(match stem {
                "a" => "a.png",
                "sub/b" => "sub/b.jpg",
                _ => "sub/c.bmp",
            }),
            &DecodeLimits::default(),
        )
        .map(|i| (i.width(), i.height()))
        .unwrap();
        assert_eq!(
            (overlay.width(), overlay.height()),
            (w, h),
            "overlay at the image's own size"
        );
    }

    // scores.csv agrees with the library on the same image, and the map max is the score.
    let csv = std::fs::read_to_string(out.join("scores.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("file,score,verdict,threshold,ms"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 3, "{csv}");
    let a_row = rows
        .iter()
        .find(|r| r[0].ends_with("a.png"))
        .expect("a.png row");
    let score: f64 = a_row[1].parse().unwrap();
    assert_eq!(
        a_row[2..4],
        ["anomalous", "0.000000000"],
        "the bundle's threshold 0 flags everything"
    );
    assert!(a_row[4].parse::<f64>().unwrap() > 0.0, "{csv}");

    let (det, _) = Detector::load(&bundle, Device::flex()).unwrap();
    let img = read_rgb8(&imgs.join("a.png"), &DecodeLimits::default()).unwrap();
    let lib = det.detect(&[RgbView::from(&img)]).unwrap().remove(0);
    assert!(
        (lib.score - score).abs() < 1e-6,
        "CLI {score} vs library {}",
        lib.score
    );
    let bytes = std::fs::read(out.join("a.npy")).unwrap();
    let map: Vec<f32> = npyz::NpyFile::new(&bytes[..]).unwrap().into_vec().unwrap();
    let max = map.iter().copied().fold(f32::MIN, f32::max) as f64;
    assert!((max - score).abs() < 1e-5, "npy max {max} vs score {score}");

    // A threshold above every score: the other verdict, and the threshold given is the one used.
    let out2 = tmp.path().join("out2");
    let o = rdpp(&[
        "infer",
        "--model",
        bundle.to_str().unwrap(),
        imgs.join("a.png").to_str().unwrap(),
        "--out",
        out2.to_str().unwrap(),
        "--threshold",
        "1000",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let csv = std::fs::read_to_string(out2.join("scores.csv")).unwrap();
    let row: Vec<&str> = csv.lines().nth(1).unwrap().split(',').collect();
    assert_eq!(row[2..4], ["normal", "1000.000000000"], "{csv}");
}

#[test]
fn info_describes_the_bundle() {
    let tmp = tempfile::tempdir().unwrap();
    make_bundle(tmp.path());
    let o = rdpp(&["info", tmp.path().to_str().unwrap()]);
    let log = text(&o);
    assert!(o.status.success(), "{log}");
    assert!(
        log.contains("efficientnet_lite0")
            && log.contains("64×64")
            && log.contains("threshold 0.000000"),
        "{log}"
    );
    // A reader that goes away before the output is written (`rdpp info … | head -0`): no panic,
    // success. The pipe's read end is closed before the process has started up.
    let mut child = Command::new(env!("CARGO_BIN_EXE_rdpp"))
        .args(["info", tmp.path().to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("panicked"), "{}", text(&o));
}

#[test]
fn clear_errors_for_bad_invocations() {
    let tmp = tempfile::tempdir().unwrap();
    let junk = tmp.path().join("junk.pth");
    std::fs::write(&junk, b"definitely not a pickle").unwrap();
    let out = tmp.path().join("o");
    let o = rdpp(&[
        "import",
        "--backbone",
        "resnet18",
        "--teacher",
        junk.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let log = text(&o);
    assert_eq!(o.status.code(), Some(2), "{log}");
    assert!(
        log.contains("junk.pth") && log.contains("cannot read as a PyTorch checkpoint"),
        "{log}"
    );
    assert!(!out.exists(), "no bundle is written on failure");

    let o = rdpp(&[
        "import",
        "--backbone",
        "vgg16",
        "--teacher",
        "x.pth",
        "--out",
        "o",
    ]);
    let log = text(&o);
    assert!(
        log.contains("invalid value 'vgg16'")
            && log.contains("wide_resnet50_2, resnet18, efficientnet_lite0"),
        "{log}"
    );

    let img = tmp.path().join("x.png");
    image(&img, 10, 10, 0);
    // A model folder that does not exist: the manifest it should hold is named.
    let nope = tmp.path().join("nope");
    let o = rdpp(&[
        "infer",
        "--model",
        nope.to_str().unwrap(),
        img.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let log = text(&o);
    assert_eq!(o.status.code(), Some(2), "{log}");
    assert!(
        log.contains(&format!("{}", nope.join("manifest.json").display())),
        "{log}"
    );
    // A folder without images.
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let o = rdpp(&[
        "infer",
        "--model",
        nope.to_str().unwrap(),
        empty.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let log = text(&o);
    assert_eq!(o.status.code(), Some(2), "{log}");
    assert!(log.contains("no images found"), "{log}");

    make_bundle(&tmp.path().join("b"));
    let o = rdpp(&[
        "infer",
        "--model",
        tmp.path().join("b").to_str().unwrap(),
        img.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--backend",
        "cuda",
    ]);
    let log = text(&o);
    assert_eq!(o.status.code(), Some(2), "{log}");
    assert!(
        log.contains("no cuda backend") && log.contains("feature `cuda`"),
        "{log}"
    );
    assert!(!log.contains("panicked"), "{log}");
}

/// The same image scored on the GPU backend (wgpu; lavapipe in CI) and on the CPU agree.
#[test]
#[ignore = "needs a wgpu adapter (e.g. Mesa's lavapipe); scripts/test.sh runs it"]
fn wgpu_backend_scores_like_flex() {
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("bundle");
    make_bundle(&bundle);
    let img = tmp.path().join("x.png");
    image(&img, 90, 70, 5);
    let mut scores = Vec::new();
    for backend in ["flex", "wgpu"] {
        let out = tmp.path().join(backend);
        let o = rdpp(&[
            "infer",
            "--model",
            bundle.to_str().unwrap(),
            img.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--backend",
            backend,
        ]);
        let log = text(&o);
        assert!(o.status.success(), "{backend}: {log}");
        let csv = std::fs::read_to_string(out.join("scores.csv")).unwrap();
        let score: f64 = csv
            .lines()
            .nth(1)
            .unwrap()
            .split(',')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        scores.push(score);
    }
    assert!(
        (scores[0] - scores[1]).abs() < 1e-4,
        "flex {} vs wgpu {}",
        scores[0],
        scores[1]
    );
}

/// The GPU backends' autotune results go to `$RDPP_CACHE/cubecl`, not into the current directory
/// or the clone; a cache whose files are garbage, and one that cannot be written, cost a new
/// tuning pass, not the run.
#[test]
#[ignore = "needs a wgpu adapter (e.g. Mesa's lavapipe); scripts/test.sh runs it"]
fn wgpu_autotune_cache_is_the_users_and_a_broken_one_is_survived() {
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("bundle");
    make_bundle(&bundle);
    let img = tmp.path().join("x.png");
    image(&img, 90, 70, 5);
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let score_with_cache = |cache: &Path, run: &str| -> (f64, String) {
        let out = tmp.path().join(run);
        let o = Command::new(env!("CARGO_BIN_EXE_rdpp"))
            .args(["infer", "--backend", "wgpu", "--model"])
            .arg(&bundle)
            .arg(&img)
            .arg("--out")
            .arg(&out)
            .env("RDPP_CACHE", cache)
            .current_dir(&work)
            .output()
            .expect("run rdpp");
        let log = text(&o);
        assert!(o.status.success(), "{run}: {log}");
        assert!(!log.contains("panicked"), "{run}: {log}");
        let csv = std::fs::read_to_string(out.join("scores.csv")).unwrap();
        let score = csv.lines().nth(1).unwrap().split(',').nth(1).unwrap();
        (score.parse().unwrap(), log)
    };
    let files = |dir: &Path| -> Vec<std::path::PathBuf> {
        let mut found = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p)
                } else {
                    found.push(p)
                }
            }
        }
        found
    };

    let cache = tmp.path().join("cache");
    let (first, _) = score_with_cache(&cache, "first");
    let cached = files(&cache.join("cubecl"));
    assert!(
        !cached.is_empty(),
        "nothing written under {}",
        cache.display()
    );
    assert!(
        files(&work).is_empty(),
        "files left in the current directory: {:?}",
        files(&work)
    );

    for f in &cached {
        std::fs::write(f, b"not a cache file").unwrap();
    }
    let (corrupt, _) = score_with_cache(&cache, "corrupt");
    assert!((corrupt - first).abs() < 1e-5, "{corrupt} vs {first}");

    // A cache folder that cannot be made (its parent is a file): a warning, and the run goes on.
    let blocked = tmp.path().join("a-file");
    std::fs::write(&blocked, b"").unwrap();
    let (unwritable, log) = score_with_cache(&blocked, "unwritable");
    assert!((unwritable - first).abs() < 1e-5, "{unwritable} vs {first}");
    assert!(
        log.contains("cannot create the GPU autotune cache"),
        "{log}"
    );
}

/// `rdpp import` of the real EfficientNet-Lite0 teacher (teacher-only start), then `info` and
/// `infer` on the result. Needs `RDPP_LITE0_PTH` (set by the test command).
#[test]
#[ignore = "needs RDPP_LITE0_PTH (scripts/fetch-lite0.sh); scripts/test.sh runs it"]
fn import_real_lite0_teacher_then_infer() {
    let pth = std::env::var_os("RDPP_LITE0_PTH").expect(
        "RDPP_LITE0_PTH must name efficientnet-lite0-57934424.pth (run scripts/fetch-lite0.sh)",
    );
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("lite0");
    let o = rdpp(&[
        "import",
        "--backbone",
        "efficientnet_lite0",
        "--teacher",
        pth.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--input-size",
        "64",
        "--dtype",
        "f16",
    ]);
    let log = text(&o);
    assert!(o.status.success(), "{log}");
    assert!(
        log.contains("checkpoint  none: projection, OCBE and decoder are randomly initialised"),
        "{log}"
    );
    let o = rdpp(&["info", out.to_str().unwrap()]);
    let log = text(&o);
    assert!(
        log.contains("579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"),
        "{log}"
    );
    assert!(log.contains("F16") && log.contains("teacher only"), "{log}");
    let img = tmp.path().join("x.png");
    image(&img, 70, 90, 9);
    let o = rdpp(&[
        "infer",
        "--model",
        out.to_str().unwrap(),
        img.to_str().unwrap(),
        "--out",
        tmp.path().join("r").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(tmp.path().join("r/x.npy").is_file());
}

/// Labelled folders for `rdpp eval`: 4 good and 4 defective images (different patterns), masks
/// for two of the defects (the images' size, a white square).
fn labelled_folders(root: &Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let (good, bad, masks) = (root.join("good"), root.join("bad"), root.join("masks"));
    for d in [&good, &bad, &masks] {
        std::fs::create_dir_all(d).unwrap();
    }
    for i in 0..4 {
        image(&good.join(format!("g{i}.png")), 72, 72, i);
        image(&bad.join(format!("d{i}.png")), 72, 72, 100 + 37 * i);
    }
    for i in 0..2 {
        let m = image::GrayImage::from_fn(72, 72, |x, y| {
            image::Luma([if (20..40).contains(&x) && (20..40).contains(&y) {
                255
            } else {
                0
            }])
        });
        m.save(masks.join(format!("d{i}_mask.png"))).unwrap();
    }
    (good, bad, masks)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `rdpp eval` with image labels only, then with masks for some defects and a threshold written
/// into a copy of the bundle: the metrics each case allows, the report files, the verdicts of
/// `scores.csv` agreeing with the report's counts, and the copied bundle giving `rdpp infer`
/// the same verdicts.
#[test]
fn eval_reports_with_labels_only_and_partial_masks_and_writes_a_threshold() {
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("bundle");
    make_bundle(&bundle);
    let (good, bad, masks) = labelled_folders(tmp.path());

    // Labels only.
    let out = tmp.path().join("labels-only");
    let o = rdpp(&[
        "eval",
        "--model",
        s(&bundle),
        "--good",
        s(&good),
        "--defect",
        s(&bad),
        "--out",
        s(&out),
    ]);
    let log = text(&o);
    assert!(o.status.success(), "{log}");
    assert!(log.contains("image metrics only"), "{log}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert!(report["image_auroc"].is_f64(), "{report}");
    assert!(
        report["pixel_auroc"].is_null() && report["aupro"].is_null(),
        "{report}"
    );
    assert_eq!(report["counts"]["images"], 8);
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("no defective image has a mask"), "{md}");
    for f in ["histogram.png", "image_curves.png", "scores.csv"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    assert!(
        !out.join("curves.png").exists(),
        "no pixel curves without masks"
    );
    let worst: Vec<_> = std::fs::read_dir(out.join("worst")).unwrap().collect();
    assert_eq!(
        worst.len(),
        8,
        "4 false alarms and 4 misses (fewer than 5 of each exist)"
    );

    // Masks for two defects, and the F1 threshold written into a copy of the bundle.
    let out = tmp.path().join("partial");
    let o = rdpp(&[
        "eval",
        "--model",
        s(&bundle),
        "--good",
        s(&good),
        "--defect",
        s(&bad),
        "--masks",
        s(&masks),
        "--out",
        s(&out),
        "--set-threshold",
        "f1",
    ]);
    let log = text(&o);
    assert!(o.status.success(), "{log}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert!(report["pixel_auroc"].is_f64(), "{report}");
    assert_eq!(
        report["counts"]["pixel_images"], 6,
        "4 good + 2 masked defects"
    );
    assert!(out.join("curves.png").is_file());
    let f1 = report["operating_points"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["rule"] == "f1")
        .expect("an f1 operating point")
        .clone();
    let threshold = f1["threshold"].as_f64().unwrap();
    let flagged = f1["confusion"]["caught"].as_u64().unwrap()
        + f1["confusion"]["false_alarms"].as_u64().unwrap();
    let csv = std::fs::read_to_string(out.join("scores.csv")).unwrap();
    assert!(
        csv.starts_with("file,label,score,verdict,threshold\n"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 9);
    assert_eq!(csv.matches(",anomalous,").count() as u64, flagged, "{csv}");

    // The copy loads, carries the threshold, and `rdpp infer` gives the same verdicts with it.
    let copy = out.join("bundle");
    let (detector, manifest) = Detector::load(&copy, Device::flex()).unwrap();
    assert_eq!(detector.threshold(), Some(threshold));
    let method = &manifest.calibration.as_ref().unwrap().method;
    assert!(
        method.contains("--set-threshold f1") && method.contains("was 0.000000"),
        "{method}"
    );
    let inferred = tmp.path().join("inferred");
    let o = rdpp(&[
        "infer",
        "--model",
        s(&copy),
        s(&good),
        s(&bad),
        "--out",
        s(&inferred),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let infer_csv = std::fs::read_to_string(inferred.join("scores.csv")).unwrap();
    assert_eq!(
        infer_csv.matches(",anomalous,").count() as u64,
        flagged,
        "{infer_csv}"
    );
}

/// `rdpp eval` refuses inconsistent labelled folders with specific messages, and lists
/// unreadable images without dropping them silently.
#[test]
fn eval_bad_input_gets_specific_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("bundle");
    make_bundle(&bundle);
    let (good, bad, masks) = labelled_folders(tmp.path());
    let out = tmp.path().join("out");
    let eval = |good: &Path, bad: &Path, masks: Option<&Path>, extra: &[&str]| {
        let mut args = vec![
            "eval",
            "--model",
            s(&bundle),
            "--good",
            s(good),
            "--defect",
            s(bad),
        ];
        if let Some(m) = masks {
            args.extend(["--masks", s(m)]);
        }
        args.extend(["--out", s(&out)]);
        args.extend(extra);
        let o = rdpp(&args);
        assert!(!text(&o).contains("panicked"), "{}", text(&o));
        o
    };
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let o = eval(&good, &empty, None, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains(&format!(
            "folder of anomalous test images {} holds no image files",
            empty.display()
        )),
        "{}",
        text(&o)
    );
    let o = eval(&good, &good, None, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("are the same image"), "{}", text(&o));
    // Masks named after another convention.
    let other = tmp.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::copy(masks.join("d0_mask.png"), other.join("mask_d0.png")).unwrap();
    let o = eval(&good, &bad, Some(&other), &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("no defective image has a mask in"),
        "{}",
        text(&o)
    );
    // A mask of another size than its image.
    image::GrayImage::new(64, 48)
        .save(other.join("d0.png"))
        .unwrap();
    let o = eval(&good, &bad, Some(&other), &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("is 64×48 but its image") && text(&o).contains("is 72×72"),
        "{}",
        text(&o)
    );
    // An unknown threshold rule.
    let o = eval(&good, &bad, None, &["--set-threshold", "p99"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("calibrated, f1 or recall99"),
        "{}",
        text(&o)
    );
    // An unreadable defect: listed, left out of the metrics (the report counts 7), exit code 1.
    std::fs::write(bad.join("zz_broken.png"), b"\x89PNG\r\n\x1a\nnot a png").unwrap();
    let o = eval(&good, &bad, None, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("zz_broken.png"), "{}", text(&o));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["counts"]["images"], 8);
    assert!(
        report["skipped"][0]["file"]
            .as_str()
            .unwrap()
            .ends_with("zz_broken.png")
    );
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        md.contains("1 image(s) could not be read and are in no metric"),
        "{md}"
    );
}
