//! Randomised cases against reference values computed by `sklearn_reference.py` with
//! scikit-learn, SciPy, scikit-image and a transcription of the official RD++ `compute_pro`
//! (committed in `reference.json`; CI needs no Python). The inputs are regenerated here from
//! seeds with the script's SplitMix64 generator; checksums in the JSON guard the mirroring.

use rdpp_metrics::*;
use serde_json::Value;

const REFERENCE: &str = include_str!("reference.json");
const TOL: f64 = 1e-12;

struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * 2f64.powi(-53)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

fn quantise(v: f64, levels: u64) -> f64 {
    if levels > 0 {
        (v * levels as f64).floor() / levels as f64
    } else {
        v
    }
}

/// Mirrors `image_case` of the script.
fn image_case(seed: u64, n: usize, levels: u64, shift: f64) -> (Vec<f64>, Vec<bool>) {
    let mut rng = SplitMix64(seed);
    let labels: Vec<bool> = (0..n).map(|_| rng.uniform() < 0.4).collect();
    let scores = labels
        .iter()
        .map(|&l| quantise(rng.uniform() + if l { shift } else { 0.0 }, levels))
        .collect();
    (scores, labels)
}

/// Mirrors `pixel_case` of the script.
fn pixel_case(
    seed: u64,
    n_images: usize,
    w: usize,
    h: usize,
    p: f64,
    levels: u64,
    shift: f64,
) -> (Vec<Vec<f32>>, Vec<Vec<bool>>) {
    let mut rng = SplitMix64(seed);
    let (mut maps, mut masks) = (Vec::new(), Vec::new());
    for _ in 0..n_images {
        let normal = rng.uniform() < 0.25;
        let has_rect = rng.uniform() < 0.7;
        let x0 = rng.below(w as u64) as usize;
        let y0 = rng.below(h as u64) as usize;
        let rw = 1 + rng.below((w / 3).max(1) as u64) as usize;
        let rh = 1 + rng.below((h / 3).max(1) as u64) as usize;
        let mut mask: Vec<bool> = (0..w * h).map(|_| rng.uniform() < p).collect();
        if has_rect {
            for y in y0..(y0 + rh).min(h) {
                for x in x0..(x0 + rw).min(w) {
                    mask[y * w + x] = true;
                }
            }
        }
        if normal {
            mask.iter_mut().for_each(|m| *m = false);
        }
        let map: Vec<f32> = mask
            .iter()
            .map(|&m| quantise(rng.uniform() * 0.8 + if m { shift } else { 0.0 }, levels) as f32)
            .collect();
        maps.push(map);
        masks.push(mask);
    }
    (maps, masks)
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::INFINITY) // `null` thresholds are +inf
}

fn fs(v: &Value) -> Vec<f64> {
    v.as_array().expect("array").iter().map(f).collect()
}

fn u(v: &Value) -> u64 {
    v.as_u64().expect("integer")
}

fn assert_close(what: &str, got: f64, want: f64, tol: f64) {
    assert!(
        (got - want).abs() <= tol || got == want,
        "{what}: got {got}, want {want} (diff {:e})",
        got - want
    );
}

fn assert_all_close(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_close(&format!("{what}[{i}]"), *g, *w, tol);
    }
}

fn reference() -> Value {
    serde_json::from_str(REFERENCE).expect("reference.json parses")
}

fn check_roc(what: &str, got: &RocCurve, want: &Value) {
    assert_all_close(&format!("{what} fpr"), &got.fpr, &fs(&want["fpr"]), 1e-15);
    assert_all_close(&format!("{what} tpr"), &got.tpr, &fs(&want["tpr"]), 1e-15);
    assert_all_close(
        &format!("{what} thresholds"),
        &got.thresholds,
        &fs(&want["thresholds"]),
        0.0,
    );
}

#[test]
fn image_metrics_match_sklearn() {
    let r = reference();
    let cases = r["image_cases"].as_array().unwrap();
    assert!(cases.len() >= 8);
    for c in cases {
        let seed = u(&c["seed"]);
        let (scores, labels) =
            image_case(seed, u(&c["n"]) as usize, u(&c["levels"]), f(&c["shift"]));
        assert_eq!(
            scores.iter().sum::<f64>(),
            f(&c["checksum"]),
            "seed {seed}: generator mirror"
        );
        assert_eq!(
            labels.iter().filter(|&&l| l).count() as u64,
            u(&c["positives"])
        );
        assert_close(
            &format!("seed {seed} AUROC"),
            image_auroc(&scores, &labels).unwrap(),
            f(&c["auroc"]),
            TOL,
        );
        let f1 = f1_max(&scores, &labels).unwrap();
        assert_close(&format!("seed {seed} F1-max"), f1.f1, f(&c["f1_max"]), TOL);
        assert_eq!(
            f1.threshold,
            f(&c["f1_threshold"]),
            "seed {seed} F1 threshold"
        );
        for (key, drop) in [("roc_all", false), ("roc_drop", true)] {
            let roc = roc_curve(&scores, &labels, drop).unwrap();
            if !c[key].is_null() {
                check_roc(&format!("seed {seed} {key}"), &roc, &c[key]);
            }
            assert_close(
                &format!("seed {seed} {key} area"),
                roc.area(),
                f(&c["auroc"]),
                1e-12,
            );
        }
    }
}

#[test]
fn pixel_metrics_match_sklearn_scipy_and_official_code() {
    let r = reference();
    let cases = r["pixel_cases"].as_array().unwrap();
    assert!(cases.len() >= 8);
    let mut official_errors = 0;
    for c in cases {
        let seed = u(&c["seed"]);
        let (w, h) = (u(&c["width"]) as usize, u(&c["height"]) as usize);
        let (maps, masks) = pixel_case(
            seed,
            u(&c["n_images"]) as usize,
            w,
            h,
            f(&c["p_speckle"]),
            u(&c["levels"]),
            f(&c["shift"]),
        );
        let checksum: f64 = maps.iter().flatten().fold(0.0, |a, &v| a + v as f64);
        assert_eq!(checksum, f(&c["checksum"]), "seed {seed}: generator mirror");
        let mask_pixels = masks.iter().flatten().filter(|&&m| m).count() as u64;
        assert_eq!(mask_pixels, u(&c["mask_pixels"]), "seed {seed}");
        let maps: Vec<&[f32]> = maps.iter().map(|m| m.as_slice()).collect();
        let masks: Vec<&[bool]> = masks.iter().map(|m| m.as_slice()).collect();

        let regions: usize = masks
            .iter()
            .map(|m| label_regions(m, w, h).unwrap().1)
            .sum();
        assert_eq!(
            regions as u64,
            u(&c["regions"]),
            "seed {seed}: regions (scipy.ndimage.label)"
        );

        assert_close(
            &format!("seed {seed} pixel AUROC"),
            pixel_auroc(&maps, &masks).unwrap(),
            f(&c["pixel_auroc"]),
            TOL,
        );
        for a in c["aupro"].as_array().unwrap() {
            let limit = f(&a["limit"]);
            let got = aupro(&maps, &masks, w, h, limit).unwrap();
            assert_close(
                &format!("seed {seed} AUPRO@{limit}"),
                got,
                f(&a["value"]),
                TOL,
            );
        }
        let curve = pro_curve(&maps, &masks, w, h, 0.0).unwrap();
        assert_eq!(
            curve.fpr.len() as u64,
            u(&c["pro_curve_points"]),
            "seed {seed}: PRO curve points"
        );
        assert_close(
            &format!("seed {seed} curve area"),
            curve.area(0.3).unwrap(),
            f(&c["aupro"][0]["value"]),
            TOL,
        );
        if !c["pro_curve"].is_null() {
            assert_all_close(
                &format!("seed {seed} PRO fpr"),
                &curve.fpr,
                &fs(&c["pro_curve"]["fpr"]),
                1e-15,
            );
            assert_all_close(
                &format!("seed {seed} PRO"),
                &curve.pro,
                &fs(&c["pro_curve"]["pro"]),
                1e-14,
            );
            assert_all_close(
                &format!("seed {seed} PRO thr"),
                &curve.thresholds,
                &fs(&c["pro_curve"]["thresholds"]),
                0.0,
            );
        }
        if !c["pixel_roc_all"].is_null() {
            let roc = pixel_roc_curve(&maps, &masks, 0.0).unwrap();
            check_roc(&format!("seed {seed} pixel ROC"), &roc, &c["pixel_roc_all"]);
        }

        let official = official_pro(&maps, &masks, w, h);
        if c["official_pro"].is_null() {
            official_errors += 1;
            let e = official.expect_err("the official code fails here");
            assert!(
                matches!(e, MetricError::Undefined { .. }),
                "seed {seed}: {e}"
            );
        } else {
            assert_close(
                &format!("seed {seed} official PRO"),
                official.unwrap(),
                f(&c["official_pro"]),
                TOL,
            );
            let per_image = fs(&c["official_pro_per_image"]);
            let got: Vec<f64> = maps
                .iter()
                .zip(&masks)
                .filter(|(_, m)| m.iter().any(|&v| v))
                .map(|(a, m)| official_pro_image(a, m, w, h).unwrap())
                .collect();
            assert_all_close(
                &format!("seed {seed} official PRO per image"),
                &got,
                &per_image,
                TOL,
            );
        }

        let report = EvaluationReport::compute(&maps, &masks, w, h, None).unwrap();
        assert_eq!(report.counts.regions as usize, regions);
        // The report's metrics against scikit-learn's and the reference AUPRO, not against the
        // functions it calls.
        assert_close(
            &format!("seed {seed} report pixel AUROC"),
            report.pixel_auroc.expect("pixel AUROC"),
            f(&c["pixel_auroc"]),
            TOL,
        );
        assert_close(
            &format!("seed {seed} report AUPRO"),
            report.aupro.expect("AUPRO"),
            f(&c["aupro"][0]["value"]),
            TOL,
        );
        match c["image_auroc_from_max"].as_f64() {
            Some(v) => assert_close(
                &format!("seed {seed} image AUROC (max)"),
                report.image_auroc.unwrap(),
                v,
                TOL,
            ),
            None => assert!(report.image_auroc.is_none() && !report.notes.is_empty()),
        }
        assert_eq!(report.official_pro.is_none(), c["official_pro"].is_null());
    }
    assert!(
        official_errors >= 1,
        "the fixture covers a case where the official code returns NaN"
    );
}

#[test]
fn official_thresholds_match_numpy_arange() {
    let r = reference();
    let mut lengths = std::collections::BTreeSet::new();
    for c in r["arange_cases"].as_array().unwrap() {
        let t = official_pro_thresholds(f(&c["min"]), f(&c["max"])).unwrap();
        assert_eq!(t.len() as u64, u(&c["len"]), "{c}");
        assert_eq!(*t.last().unwrap(), f(&c["last"]), "{c}");
        assert_eq!(t.iter().fold(0.0, |a, &v| a + v), f(&c["sum"]), "{c}");
        lengths.insert(t.len());
    }
    assert_eq!(
        lengths.into_iter().collect::<Vec<_>>(),
        [200, 201],
        "both np.arange lengths are covered"
    );
}
