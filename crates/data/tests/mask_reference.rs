//! Mask resizing against Pillow's own output (reference files made by
//! `tests/make_mask_reference.py` with Pillow 13.0.0; torchvision's Resize + ToTensor + `> 0.5`
//! was checked to agree with them when the script ran).

use std::path::PathBuf;

use rdpp_data::DecodeLimits;
use rdpp_data::mask::{binarize, read_mask, read_mask_u8};

#[derive(serde::Deserialize)]
struct Case {
    input: String,
    size: usize,
    expected: String,
    pil_mode: String,
}

fn dir() -> PathBuf {
    // From the environment `cargo test` sets, so a build cache shared between checkouts never
    // points at another checkout's files.
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| env!("CARGO_MANIFEST_DIR").into(), PathBuf::from)
        .join("tests/data/masks")
}

#[test]
fn masks_match_pillow_bit_for_bit() {
    let cases: Vec<Case> = serde_json::from_str(
        &std::fs::read_to_string(dir().join("cases.json")).expect("cases.json"),
    )
    .expect("parse cases.json");
    assert_eq!(cases.len(), 9);
    let limits = DecodeLimits::default();
    for c in &cases {
        let got =
            read_mask_u8(&dir().join(&c.input), c.size, &limits).unwrap_or_else(|e| panic!("{e}"));
        let want = image::open(dir().join(&c.expected))
            .expect("expected png")
            .into_luma8()
            .into_raw();
        assert_eq!(want.len(), c.size * c.size, "{}", c.expected);
        let diffs = got.iter().zip(&want).filter(|(a, b)| a != b).count();
        assert_eq!(
            diffs, 0,
            "{} (mode {}) -> {}: {diffs} values differ from Pillow",
            c.input, c.pil_mode, c.size
        );
        let bin = read_mask(&dir().join(&c.input), c.size, &limits).expect("read");
        assert_eq!(bin, binarize(&want));
        if c.input.starts_with("mvtec_like") {
            // A real test: the mask has both classes after resizing.
            assert!(bin.contains(&0) && bin.contains(&1));
        }
    }
}

#[test]
fn unreadable_mask_names_the_file() {
    let t = tempfile::tempdir().expect("tempdir");
    let p = t.path().join("0001_mask.png");
    std::fs::write(&p, b"\x89PNG\r\n\x1a\ntruncated").expect("write");
    let e = read_mask(&p, 16, &DecodeLimits::default()).unwrap_err();
    assert!(e.to_string().contains("0001_mask.png"), "{e}");
    let e = read_mask(&t.path().join("missing.png"), 16, &DecodeLimits::default()).unwrap_err();
    assert!(e.to_string().contains("missing.png"), "{e}");
}
