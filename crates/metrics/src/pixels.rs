//! All pixels of all images pooled and sorted once by score: the shared basis of the pixel AUROC,
//! the pixel ROC curve, the PRO curve and AUPRO.

use crate::regions::label_into;
use crate::{CompensatedSum, MetricError, check_dims, check_maps};
use std::ops::ControlFlow;

/// One distinct score and the samples having it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Group {
    /// The score (a sample is predicted positive when `score >= threshold`).
    pub(crate) threshold: f64,
    /// Positive (anomalous) samples with this score.
    pub(crate) pos: u64,
    /// Negative (normal) samples with this score.
    pub(crate) neg: u64,
}

/// Maps an `f32` to a `u32` whose unsigned order is the float's numeric order (finite values;
/// `-0.0` folded onto `+0.0`).
pub(crate) fn f32_key(x: f32) -> u32 {
    let b = (x + 0.0).to_bits();
    if b >> 31 == 1 { !b } else { b | (1 << 31) }
}

/// Inverse of [`f32_key`].
pub(crate) fn key_f32(k: u32) -> f32 {
    if k >> 31 == 1 {
        f32::from_bits(k & !(1 << 31))
    } else {
        f32::from_bits(!k)
    }
}

/// Pooled pixels: `(score key << 32) | region`, sorted ascending (iterated from the end).
/// Region 0 is a normal pixel; regions 1.. are ground-truth regions (8-connected components of
/// each mask, numbered across all images) — or, without map dimensions, region 1 is "any
/// anomalous pixel".
pub(crate) struct SortedPixels {
    keys: Vec<u64>,
    /// `1 / size` of each region (index 0 unused).
    inv_region_size: Vec<f64>,
    pub(crate) n_normal: u64,
    pub(crate) n_anomalous: u64,
    pub(crate) n_regions: u64,
}

impl SortedPixels {
    /// Validates and sorts. With `dims = Some((width, height))` every map must have
    /// `width * height` pixels and regions are labelled; with `None` sizes are free.
    pub(crate) fn new(
        maps: &[&[f32]],
        masks: &[&[bool]],
        dims: Option<(usize, usize)>,
    ) -> Result<Self, MetricError> {
        let expected = dims.map(|(w, h)| check_dims(w, h)).transpose()?;
        let total = check_maps(maps, masks, expected)?;
        let mut keys = Vec::with_capacity(total);
        let mut inv_region_size = vec![0.0];
        let (mut n_normal, mut n_anomalous) = (0u64, 0u64);
        let mut labels = Vec::new();
        let mut sizes = Vec::new();
        for (map, mask) in maps.iter().zip(masks) {
            match dims {
                Some((w, h)) => {
                    let base = inv_region_size.len() as u64 - 1;
                    let n = label_into(mask, w, h, &mut labels, &mut sizes);
                    if base + n as u64 >= u32::MAX as u64 {
                        return Err(MetricError::InvalidArgument(
                            "more than 2^32 - 2 ground-truth regions".into(),
                        ));
                    }
                    inv_region_size.extend(sizes.iter().map(|&s| 1.0 / s as f64));
                    for (&v, &l) in map.iter().zip(&labels) {
                        let region = if l == 0 { 0 } else { base + l as u64 };
                        keys.push(((f32_key(v) as u64) << 32) | region);
                    }
                }
                None => {
                    for (&v, &m) in map.iter().zip(mask.iter()) {
                        keys.push(((f32_key(v) as u64) << 32) | m as u64);
                    }
                }
            }
            let a = mask.iter().filter(|&&m| m).count() as u64;
            n_anomalous += a;
            n_normal += mask.len() as u64 - a;
        }
        if dims.is_none() && n_anomalous > 0 {
            inv_region_size.push(1.0 / n_anomalous as f64);
        }
        let n_regions = inv_region_size.len() as u64 - 1;
        keys.sort_unstable();
        Ok(SortedPixels {
            keys,
            inv_region_size,
            n_normal,
            n_anomalous,
            n_regions,
        })
    }

    /// Calls `f` once per distinct score, in decreasing order, with the group's counts; stops
    /// early when `f` breaks.
    pub(crate) fn for_each_group(&self, mut f: impl FnMut(Group) -> ControlFlow<()>) {
        self.for_each_group_pro(|g, _| f(g));
    }

    /// As [`Self::for_each_group`], also passing the group's summed `1 / region size` over its
    /// anomalous pixels (the PRO increment before averaging over regions).
    pub(crate) fn for_each_group_pro(&self, mut f: impl FnMut(Group, f64) -> ControlFlow<()>) {
        let mut i = self.keys.len();
        while i > 0 {
            let score = (self.keys[i - 1] >> 32) as u32;
            let mut g = Group {
                threshold: key_f32(score) as f64,
                pos: 0,
                neg: 0,
            };
            let mut pro = CompensatedSum::default();
            while i > 0 && (self.keys[i - 1] >> 32) as u32 == score {
                let region = (self.keys[i - 1] & 0xFFFF_FFFF) as usize;
                if region == 0 {
                    g.neg += 1;
                } else {
                    g.pos += 1;
                    pro.add(self.inv_region_size[region]);
                }
                i -= 1;
            }
            if f(g, pro.value()).is_break() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_keys_are_ordered_and_invertible() {
        let v = [
            f32::MIN,
            -3.5,
            -1e-30,
            -0.0,
            0.0,
            1e-40,
            0.25,
            7.0,
            f32::MAX,
        ];
        for w in v.windows(2) {
            assert!(f32_key(w[0]) <= f32_key(w[1]), "{} {}", w[0], w[1]);
        }
        assert_eq!(f32_key(-0.0), f32_key(0.0));
        for x in v {
            assert_eq!(key_f32(f32_key(x)), x + 0.0);
        }
    }
}
