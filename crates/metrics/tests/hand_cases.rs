//! Small cases computed by hand, and error cases.

use rdpp_metrics::*;

#[test]
fn auroc_perfect_inverted_tied() {
    let labels = [false, false, true, true];
    assert_eq!(image_auroc(&[0.1, 0.2, 0.8, 0.9], &labels).unwrap(), 1.0);
    assert_eq!(image_auroc(&[0.9, 0.8, 0.2, 0.1], &labels).unwrap(), 0.0);
    assert_eq!(image_auroc(&[0.5; 4], &labels).unwrap(), 0.5);
    // -0.0 and 0.0 are the same score.
    assert_eq!(image_auroc(&[0.0, -0.0, -0.0, 0.0], &labels).unwrap(), 0.5);
}

#[test]
fn auroc_four_samples_by_hand() {
    // Positive/negative pairs: 0.35 > 0.1, 0.35 < 0.4, 0.8 > 0.1, 0.8 > 0.4 -> 3/4.
    assert_eq!(
        image_auroc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]).unwrap(),
        0.75
    );
    // With a tie: positives {0.5, 0.9}, negatives {0.5, 0.2}: ½ + 1 + 1 + 1 = 3.5 of 4.
    assert_eq!(
        image_auroc(&[0.5, 0.5, 0.2, 0.9], &[true, false, false, true]).unwrap(),
        0.875
    );
}

#[test]
fn roc_curve_four_samples_by_hand() {
    // scikit-learn's documented example.
    let roc = roc_curve(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true], true).unwrap();
    assert_eq!(roc.fpr, [0.0, 0.0, 0.5, 0.5, 1.0]);
    assert_eq!(roc.tpr, [0.0, 0.5, 0.5, 1.0, 1.0]);
    assert_eq!(roc.thresholds, [f64::INFINITY, 0.8, 0.4, 0.35, 0.1]);
    assert_eq!(roc.area(), 0.75);
    let json = serde_json::to_string(&roc).unwrap();
    assert!(json.contains("\"thresholds\":[null,0.8,"), "{json}");
    assert_eq!(serde_json::from_str::<RocCurve>(&json).unwrap(), roc);
    // drop_intermediate drops the collinear middle point of three negatives in a row.
    let scores = [0.9, 0.8, 0.7, 0.6, 0.5];
    let labels = [true, false, false, false, true];
    assert_eq!(roc_curve(&scores, &labels, false).unwrap().fpr.len(), 6);
    let dropped = roc_curve(&scores, &labels, true).unwrap();
    assert_eq!(dropped.thresholds, [f64::INFINITY, 0.9, 0.6, 0.5]);
    // Thinning keeps first and last points. By hand: the full curve is fpr [0, 0, 1/3, 2/3, 1, 1],
    // tpr [0, ½, ½, ½, ½, 1] (thresholds ∞, 0.9 … 0.5); with a step of 0.6 the first point is
    // kept, then the first one at least 0.6 away in FPR or TPR from the last kept (2/3, ½) at
    // 0.7, then the last point (1, 1) at 0.5.
    let thin = roc_curve(&scores, &labels, false).unwrap().thinned(0.6);
    assert_eq!(thin.thresholds, [f64::INFINITY, 0.7, 0.5]);
    assert_eq!(thin.tpr, [0.0, 0.5, 1.0]);
    assert_eq!(thin.fpr.len(), 3);
    assert_eq!((thin.fpr[0], thin.fpr[2]), (0.0, 1.0));
    assert!((thin.fpr[1] - 2.0 / 3.0).abs() < 1e-15, "{:?}", thin.fpr);
}

#[test]
fn f1_max_by_hand() {
    // Thresholds 0.8: TP1 FP0 -> 2/3; 0.4: TP1 FP1 -> 1/2; 0.35: TP2 FP1 -> 4/5; 0.1: 2/3.
    let f = f1_max(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]).unwrap();
    assert_eq!(
        f,
        F1Max {
            f1: 0.8,
            threshold: 0.35
        }
    );
    assert_eq!(
        f1_max(&[0.3, 0.7], &[true, true]).unwrap(),
        F1Max {
            f1: 1.0,
            threshold: 0.3
        }
    );
    // Equal maxima: the smaller threshold wins (np.argmax over increasing thresholds).
    let f = f1_max(&[0.9, 0.8, 0.7], &[true, false, true]).unwrap();
    assert_eq!(f.threshold, 0.7);
}

#[test]
fn pixel_auroc_by_hand() {
    let maps: [&[f32]; 2] = [&[0.1, 0.9, 0.2, 0.3], &[0.5, 0.5]];
    let masks: [&[bool]; 2] = [&[false, true, false, false], &[true, false]];
    // Positives {0.9, 0.5}, negatives {0.1, 0.2, 0.3, 0.5}: 4 + (3 + ½) = 7.5 of 8.
    assert_eq!(pixel_auroc(&maps, &masks).unwrap(), 7.5 / 8.0);
    let roc = pixel_roc_curve(&maps, &masks, 0.0).unwrap();
    assert_eq!(roc.tpr, [0.0, 0.5, 1.0, 1.0, 1.0, 1.0]);
    assert_eq!(roc.fpr, [0.0, 0.0, 0.25, 0.5, 0.75, 1.0]);
}

#[test]
fn aupro_by_hand() {
    // One 4×1 image, two one-pixel regions (pixels 0 and 3), two normal pixels.
    // Curve: (0,0) -> t=0.9 (0, 0.5) -> t=0.8 (0.5, 0.5) -> t=0.5 (0.5, 1) -> t=0.1 (1, 1).
    let map: &[f32] = &[0.9, 0.8, 0.1, 0.5];
    let mask: &[bool] = &[true, false, false, true];
    let curve = pro_curve(&[map], &[mask], 4, 1, 0.0).unwrap();
    assert_eq!(curve.fpr, [0.0, 0.0, 0.5, 0.5, 1.0]);
    assert_eq!(curve.pro, [0.0, 0.5, 0.5, 1.0, 1.0]);
    let json = serde_json::to_string(&curve).unwrap();
    assert_eq!(serde_json::from_str::<ProCurve>(&json).unwrap(), curve);
    // Up to 0.3: 0.5 × 0.3 (interpolated at 0.3) / 0.3.
    assert_eq!(aupro(&[map], &[mask], 4, 1, 0.3).unwrap(), 0.5);
    // Up to 1: 0.5·0.5 + 1·0.5.
    assert_eq!(aupro(&[map], &[mask], 4, 1, 1.0).unwrap(), 0.75);
    // Limit exactly at a curve point: no interpolation needed.
    assert_eq!(aupro(&[map], &[mask], 4, 1, 0.5).unwrap(), 0.5);
}

#[test]
fn aupro_counts_regions_not_pixels_and_pools_images() {
    // A big region fully found and a small one missed count equally: PRO 0.5 until the small
    // region's pixel (score 0) is reached, which is after every normal pixel (score 0.5).
    let w = 3;
    let big = [true, true, false, true, true, false, false, false, false];
    let small = [false, false, false, false, false, false, false, false, true];
    let m1: Vec<f32> = big.iter().map(|&b| if b { 1.0 } else { 0.5 }).collect();
    let m2: Vec<f32> = small.iter().map(|&b| if b { 0.0 } else { 0.5 }).collect();
    let v = aupro(&[&m1, &m2], &[&big, &small], w, 3, 0.3).unwrap();
    assert_eq!(v, 0.5);
    // The normal pixels of a normal image enter the FPR: here they score highest -> AUPRO 0.
    let normal = [false; 9];
    let hot = [2.0f32; 9];
    assert_eq!(
        aupro(&[&m1, &hot], &[&big, &normal], w, 3, 0.3).unwrap(),
        0.0
    );
}

#[test]
fn aupro_perfect_and_inverted() {
    let mask = [false, true, true, false, false, true];
    let good: Vec<f32> = mask.iter().map(|&m| if m { 1.0 } else { 0.0 }).collect();
    let bad: Vec<f32> = mask.iter().map(|&m| if m { 0.0 } else { 1.0 }).collect();
    assert_eq!(aupro(&[&good], &[&mask], 3, 2, 0.3).unwrap(), 1.0);
    assert_eq!(aupro(&[&bad], &[&mask], 3, 2, 0.3).unwrap(), 0.0);
    assert_eq!(pixel_auroc(&[&good], &[&mask]).unwrap(), 1.0);
    assert_eq!(pixel_auroc(&[&bad], &[&mask]).unwrap(), 0.0);
    let tied = [0.25f32; 6];
    assert_eq!(pixel_auroc(&[&tied], &[&mask]).unwrap(), 0.5);
    // All tied: one step from (0,0) to (1,1); interpolated at 0.3 -> PRO 0.3; area 0.045 / 0.3.
    assert!((aupro(&[&tied], &[&mask], 3, 2, 0.3).unwrap() - 0.15).abs() < 1e-15);
}

#[test]
fn official_pro_by_hand() {
    // One region (pixels 0, 1; pixel 1 always above every threshold < 1, pixel 0 never):
    // PRO = 0.5 at every threshold. Normal pixels 0.2, 0.4, 0.6, 0.8: kept thresholds are
    // those with FPR < 0.3, i.e. FPR 1/4 (t in [0.6, 0.8)) and 0 (t >= 0.8); rescaled FPR 1 -> 0,
    // area 0.5.
    let map: &[f32] = &[0.0, 1.0, 0.2, 0.4, 0.6, 0.8];
    let mask: &[bool] = &[true, true, false, false, false, false];
    assert_eq!(official_pro_image(map, mask, 6, 1).unwrap(), 0.5);
    // Normal images are skipped; the mean is over anomalous images.
    let normal: &[bool] = &[false; 6];
    assert_eq!(
        official_pro(&[map, map], &[mask, normal], 6, 1).unwrap(),
        0.5
    );
    // Perfect separation: every kept FPR is 0 -> the official code yields NaN -> error.
    let perfect: &[f32] = &[1.0, 1.0, 0.0, 0.0, 0.0, 0.0];
    assert!(matches!(
        official_pro_image(perfect, mask, 6, 1),
        Err(MetricError::Undefined { .. })
    ));
    // Constant map: np.arange with step 0 raises.
    assert!(matches!(
        official_pro_image(&[0.5; 6], mask, 6, 1),
        Err(MetricError::Undefined { .. })
    ));
    // All-anomalous mask: the official assertion fails.
    assert!(matches!(
        official_pro(&[map], &[&[true; 6]], 6, 1),
        Err(MetricError::Undefined { .. })
    ));
    // No anomalous image.
    assert!(matches!(
        official_pro(&[map], &[normal], 6, 1),
        Err(MetricError::OneClass { .. })
    ));
    // Thresholds: np.arange(0, 1, 0.005) has 200 values.
    let t = official_pro_thresholds(0.0, 1.0).unwrap();
    assert_eq!((t.len(), t[0], t[1]), (200, 0.0, 0.005));
}

#[test]
fn error_cases() {
    use MetricError::*;
    let e = |r: Result<f64, MetricError>| r.expect_err("should fail");
    assert_eq!(e(image_auroc(&[], &[])), Empty);
    assert!(matches!(
        e(image_auroc(&[0.1], &[true, false])),
        LengthMismatch { .. }
    ));
    assert!(matches!(
        e(image_auroc(&[0.1, f64::NAN], &[true, false])),
        NonFinite {
            image: None,
            index: 1
        }
    ));
    assert!(matches!(
        e(image_auroc(&[0.1, f64::INFINITY], &[true, false])),
        NonFinite { .. }
    ));
    assert!(matches!(
        e(image_auroc(&[0.1, 0.2], &[true, true])),
        OneClass {
            positives: 2,
            negatives: 0,
            ..
        }
    ));
    assert!(matches!(
        e(image_auroc(&[0.1, 0.2], &[false, false])),
        OneClass { .. }
    ));
    assert!(matches!(
        roc_curve(&[0.1, 0.2], &[false, false], true),
        Err(OneClass {
            positives: 0,
            negatives: 2,
            ..
        })
    ));
    assert!(matches!(
        f1_max(&[0.1, 0.2], &[false, false]),
        Err(OneClass { .. })
    ));
    assert!(matches!(f1_max(&[], &[]), Err(Empty)));

    let map: &[f32] = &[0.1, 0.2, 0.3, 0.4];
    let mask: &[bool] = &[false, true, false, false];
    assert_eq!(e(pixel_auroc(&[], &[])), Empty);
    assert_eq!(e(pixel_auroc(&[&[]], &[&[]])), Empty);
    assert!(matches!(e(pixel_auroc(&[map], &[])), LengthMismatch { .. }));
    assert!(matches!(
        e(pixel_auroc(&[map], &[&mask[..3]])),
        LengthMismatch { .. }
    ));
    assert!(matches!(
        e(pixel_auroc(&[map, &[f32::NAN]], &[mask, &[true]])),
        NonFinite {
            image: Some(1),
            index: 0
        }
    ));
    assert!(matches!(
        e(pixel_auroc(&[map], &[&[false; 4]])),
        OneClass { .. }
    ));

    assert!(matches!(
        e(aupro(&[map], &[mask], 3, 1, 0.3)),
        LengthMismatch { .. }
    ));
    assert!(matches!(
        e(aupro(&[map], &[mask], 0, 4, 0.3)),
        InvalidArgument(_)
    ));
    for limit in [0.0, -0.1, 1.5, f64::NAN] {
        assert!(
            matches!(e(aupro(&[map], &[mask], 2, 2, limit)), InvalidArgument(_)),
            "{limit}"
        );
    }
    assert!(matches!(
        e(aupro(&[map], &[&[false; 4]], 2, 2, 0.3)),
        OneClass { .. }
    ));
    assert!(matches!(
        e(aupro(&[map], &[&[true; 4]], 2, 2, 0.3)),
        OneClass { .. }
    ));
    assert!(matches!(
        e(aupro(
            &[&[0.1, f32::NEG_INFINITY, 0.0, 0.0]],
            &[mask],
            2,
            2,
            0.3
        )),
        NonFinite { .. }
    ));
    assert!(matches!(
        pro_curve(&[map], &[mask], 2, 2, -1.0),
        Err(InvalidArgument(_))
    ));
    assert!(matches!(
        pixel_roc_curve(&[map], &[mask], f64::NAN),
        Err(InvalidArgument(_))
    ));
    assert!(matches!(
        e(official_pro(&[map], &[mask], 2, 3)),
        LengthMismatch { .. }
    ));
    assert!(matches!(
        official_pro_thresholds(0.0, f64::NAN),
        Err(InvalidArgument(_))
    ));
    assert!(e(image_auroc(&[], &[])).is_invalid_input());
    assert!(!e(image_auroc(&[0.1, 0.2], &[true, true])).is_invalid_input());
}

#[test]
fn report_collects_metrics_and_notes() {
    let (w, h) = (4, 2);
    let masks: Vec<Vec<bool>> = vec![
        vec![false, true, true, false, false, false, false, false],
        vec![false; 8],
        vec![true, false, false, false, false, false, false, true],
    ];
    let maps: Vec<Vec<f32>> = vec![
        vec![0.1, 0.9, 0.7, 0.2, 0.3, 0.1, 0.0, 0.2],
        vec![0.2, 0.1, 0.3, 0.2, 0.1, 0.4, 0.2, 0.3],
        // The last anomalous pixel (0.45) scores below one normal pixel (0.5): the pixel metrics
        // are not perfect, so each of them has its own value.
        vec![0.8, 0.1, 0.2, 0.3, 0.5, 0.2, 0.25, 0.45],
    ];
    let maps: Vec<&[f32]> = maps.iter().map(|m| m.as_slice()).collect();
    let masks: Vec<&[bool]> = masks.iter().map(|m| m.as_slice()).collect();
    let r = EvaluationReport::compute(&maps, &masks, w, h, None).unwrap();
    assert_eq!(r.image_auroc, Some(1.0));
    // Expected values by hand (and with a pure-Python transcription of the definitions: Mann-
    // Whitney U, brute-force PRO per threshold, the official `compute_pro` per image):
    // pixel AUROC: 4 anomalous × 20 normal pairs, only 0.45 < 0.5 is lost -> 79/80.
    let close = |got: Option<f64>, want: f64| got.is_some_and(|g| (g - want).abs() < 1e-12);
    assert!(close(r.pixel_auroc, 79.0 / 80.0), "{:?}", r.pixel_auroc);
    // AUPRO to FPR 0.3: three regions ({1, 2} of image 0, {0} and {7} of image 2); PRO 2/3 from
    // FPR 0 to 1/20 (the 0.5 normal pixel), then 1: (0.05·2/3 + 0.25·1) / 0.3 = 17/18.
    assert!(close(r.aupro, 17.0 / 18.0), "{:?}", r.aupro);
    // Official PRO: image 0 separates perfectly (1.0); in image 2 the kept thresholds (FPR < 0.3,
    // i.e. th >= 0.3) have FPR 1/6 with PRO 1 then ½ (the 0.45 region lost), and FPR 0 with PRO ½
    // -> area ½ after rescaling; mean (1 + ½) / 2.
    assert!(close(r.official_pro, 0.75), "{:?}", r.official_pro);
    assert_eq!(r.image_f1_max, Some(1.0));
    assert_eq!(r.image_f1_threshold, Some(0.800000011920929)); // 0.8f32, the smaller maximum
    assert_eq!(
        r.counts,
        EvaluationCounts {
            images: 3,
            anomalous_images: 2,
            normal_images: 1,
            pixel_images: 3,
            width: 4,
            height: 2,
            pixels: 24,
            anomalous_pixels: 4,
            regions: 3
        }
    );
    let json = serde_json::to_string(&r).unwrap();
    assert_eq!(serde_json::from_str::<EvaluationReport>(&json).unwrap(), r);
    let md = r.to_markdown();
    assert!(md.contains("| Image AUROC | 100.00 |"), "{md}");
    assert!(md.contains("| AUPRO (FPR ≤ 0.3) |"), "{md}");
    assert!(
        md.contains("3 test images (2 anomalous, 1 normal) of 4×2 px"),
        "{md}"
    );

    // Only anomalous images: image AUROC undefined -> None with a note, not an error.
    let r = EvaluationReport::compute(
        &[maps[0], maps[2]],
        &[masks[0], masks[2]],
        w,
        h,
        Some(&[0.3, 0.4]),
    )
    .unwrap();
    assert_eq!(r.image_auroc, None);
    assert!(
        r.notes.iter().any(|n| n.starts_with("image AUROC")),
        "{:?}",
        r.notes
    );
    assert!(r.to_markdown().contains("| Image AUROC | n/a |"));
    assert!(
        serde_json::to_string(&r)
            .unwrap()
            .contains("\"image_auroc\":null")
    );
    // Malformed input is an error.
    assert!(EvaluationReport::compute(&maps, &masks, w, h, Some(&[0.1])).is_err());
    assert!(EvaluationReport::compute(&maps, &masks, 3, 3, None).is_err());
}

/// Labels without masks, or masks for some defects only: image metrics over every image, pixel
/// metrics over the masked images only (or none), each said in a note; the thresholds a user can
/// choose, with their verdict counts.
#[test]
fn labelled_report_with_partial_and_missing_masks() {
    let (w, h) = (2, 2);
    let maps: Vec<Vec<f32>> = vec![
        vec![0.1, 0.2, 0.1, 0.0],  // normal, score 0.2
        vec![0.3, 0.1, 0.0, 0.1],  // normal, score 0.3
        vec![0.9, 0.1, 0.0, 0.2],  // defect with mask (pixel 0), score 0.9
        vec![0.1, 0.25, 0.0, 0.1], // defect without mask, score 0.25
    ];
    let maps: Vec<&[f32]> = maps.iter().map(|m| m.as_slice()).collect();
    let scores: Vec<f64> = maps
        .iter()
        .map(|m| m.iter().fold(0.0f64, |a, &v| a.max(v as f64)))
        .collect();
    let labels = [false, false, true, true];
    let good = [false; 4];
    let hit = [true, false, false, false];
    let partial: Vec<Option<&[bool]>> = vec![Some(&good), Some(&good), Some(&hit), None];
    let r = EvaluationReport::compute_labelled(&scores, &labels, &maps, &partial, w, h, Some(0.31))
        .unwrap();
    // Image AUROC over all four: the unmasked defect (0.25) ranks below one normal (0.3): 3/4.
    assert_eq!(r.image_auroc, Some(0.75));
    // Pixel AUROC over the three masked images: the one anomalous pixel (0.9) tops all 11 others.
    assert_eq!(r.pixel_auroc, Some(1.0));
    assert_eq!(
        (r.counts.images, r.counts.pixel_images, r.counts.pixels),
        (4, 3, 12)
    );
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("1 of 2 defective images")),
        "{:?}",
        r.notes
    );
    // Thresholds: calibrated 0.31 catches one defect and no normal image; F1-max (at the 0.25
    // defect: 2 caught, 1 false alarm, F1 0.8 — vs 0.667 at 0.9) and recall99 (every defect).
    let cal = r.operating_point(ThresholdRule::Calibrated).unwrap();
    assert_eq!((cal.confusion.caught, cal.confusion.false_alarms), (1, 0));
    let f1 = r.operating_point(ThresholdRule::F1).unwrap();
    assert_eq!((f1.confusion.caught, f1.confusion.false_alarms), (2, 1));
    assert!(f1.threshold < 0.25 && f1.threshold > 0.2);
    let rec = r.operating_point(ThresholdRule::Recall99).unwrap();
    assert_eq!(rec.confusion.missed, 0);
    let md = r.to_markdown();
    assert!(
        md.contains("| calibrated | 0.310000 | 1 (50.0%) | 1 | 0 (0.0%) | 2 |"),
        "{md}"
    );
    assert!(md.contains("Pixel metrics over 3 of the 4 images"), "{md}");

    // No masks at all: image metrics only, and the report says so.
    let none: Vec<Option<&[bool]>> = vec![Some(&good), Some(&good), None, None];
    let r = EvaluationReport::compute_labelled(&scores, &labels, &maps, &none, w, h, None).unwrap();
    assert_eq!(r.image_auroc, Some(0.75));
    assert_eq!((r.pixel_auroc, r.aupro, r.official_pro), (None, None, None));
    assert_eq!(r.computed(), "image metrics only");
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("no defective image has a mask")),
        "{:?}",
        r.notes
    );
    assert!(r.operating_point(ThresholdRule::Calibrated).is_none());
    let json = serde_json::to_string(&r).unwrap();
    assert_eq!(serde_json::from_str::<EvaluationReport>(&json).unwrap(), r);
    // Lengths must agree.
    assert!(
        EvaluationReport::compute_labelled(&scores, &labels[..3], &maps, &none, w, h, None)
            .is_err()
    );
}

#[test]
fn curves_png() {
    let (w, h) = (16, 16);
    let mask: Vec<bool> = (0..w * h)
        .map(|i| (i % w) > 10 && (i / w) > 4 && (i / w) < 9)
        .collect();
    let map: Vec<f32> = (0..w * h)
        .map(|i| ((i * 37 % 101) as f32 / 101.0) + if mask[i] { 0.4 } else { 0.0 })
        .collect();
    let roc = pixel_roc_curve(&[&map], &[&mask], 0.0).unwrap();
    let pro = pro_curve(&[&map], &[&mask], w, h, 0.0).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("curves.png");
    write_curves_png(&path, &roc, &pro).unwrap();
    let img = image::open(&path).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (960, 480));
    let blue = |x0: u32, x1: u32| {
        img.enumerate_pixels()
            .filter(|(x, _, p)| *x >= x0 && *x < x1 && p.0 == [0, 0, 255])
            .count()
    };
    assert!(
        blue(0, 480) > 100 && blue(480, 960) > 100,
        "both curves drawn"
    );
    assert!(write_curves_png(dir.path().join("no/such/dir/x.png"), &roc, &pro).is_err());
}
