//! Times the pixel metrics on 100 synthetic maps of 256×256 (random scores, disc-shaped defects
//! in two of three images) and, given a path argument, writes the curve plot there:
//!
//! ```sh
//! cargo run --release -p rdpp-metrics --example timing [curves.png]
//! ```

use rdpp_metrics::*;
use std::time::Instant;

fn main() {
    let (w, h, n) = (256usize, 256usize, 100usize);
    let mut s = 12345u64;
    let mut rnd = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut maps = Vec::new();
    let mut masks = Vec::new();
    for k in 0..n {
        let mut mask = vec![false; w * h];
        if k % 3 != 0 {
            for _ in 0..3 {
                let (cx, cy, r) = (rnd() * w as f64, rnd() * h as f64, 3.0 + rnd() * 20.0);
                for y in 0..h {
                    for x in 0..w {
                        if ((x as f64 - cx).powi(2) + (y as f64 - cy).powi(2)).sqrt() < r {
                            mask[y * w + x] = true;
                        }
                    }
                }
            }
        }
        let map: Vec<f32> = mask
            .iter()
            .map(|&m| (rnd() * 0.6 + if m { 0.35 } else { 0.0 }) as f32)
            .collect();
        maps.push(map);
        masks.push(mask);
    }
    let maps: Vec<&[f32]> = maps.iter().map(|m| m.as_slice()).collect();
    let masks: Vec<&[bool]> = masks.iter().map(|m| m.as_slice()).collect();
    let t = Instant::now();
    let a = pixel_auroc(&maps, &masks).unwrap();
    println!("pixel_auroc {a:.6} {:.3}s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let a = aupro(&maps, &masks, w, h, 0.3).unwrap();
    println!("aupro {a:.6} {:.3}s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let a = official_pro(&maps, &masks, w, h).unwrap();
    println!("official_pro {a:.6} {:.3}s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let r = EvaluationReport::compute(&maps, &masks, w, h, None).unwrap();
    println!(
        "report {:.3}s\n{}",
        t.elapsed().as_secs_f64(),
        r.to_markdown()
    );
    let t = Instant::now();
    let roc = pixel_roc_curve(&maps, &masks, 1e-3).unwrap();
    let pro = pro_curve(&maps, &masks, w, h, 1e-3).unwrap();
    println!(
        "curves {} {} {:.3}s",
        roc.fpr.len(),
        pro.fpr.len(),
        t.elapsed().as_secs_f64()
    );
    if let Some(path) = std::env::args().nth(1) {
        write_curves_png(&path, &roc, &pro).unwrap();
        println!("wrote {path}");
    }
}
