//! Connected-component labelling of ground-truth masks (8-connectivity). Hand-written: this is
//! what `scipy.ndimage.label(mask, np.ones((3, 3)))` and `skimage.measure.label(mask)` (default
//! full connectivity) do; a flood fill is a few lines and avoids an image-processing dependency.

use crate::{MetricError, check_dims};

/// Labels the 8-connected components of `mask` (row-major, `width × height`, `true` =
/// foreground) into `labels` (0 = background, components 1..=n numbered in raster order of their
/// first pixel, as SciPy and scikit-image number them) and their pixel counts into `sizes`
/// (`sizes[k - 1]` is component `k`'s size). Returns n. `mask.len()` must be `width * height`.
pub(crate) fn label_into(
    mask: &[bool],
    width: usize,
    height: usize,
    labels: &mut Vec<u32>,
    sizes: &mut Vec<u32>,
) -> usize {
    labels.clear();
    labels.resize(mask.len(), 0);
    sizes.clear();
    let mut stack: Vec<usize> = Vec::new();
    for start in 0..mask.len() {
        if !mask[start] || labels[start] != 0 {
            continue;
        }
        let label = sizes.len() as u32 + 1;
        let mut size = 0u32;
        labels[start] = label;
        stack.push(start);
        while let Some(p) = stack.pop() {
            size += 1;
            let (x, y) = (p % width, p / width);
            let (x0, x1) = (x.saturating_sub(1), (x + 1).min(width - 1));
            let (y0, y1) = (y.saturating_sub(1), (y + 1).min(height - 1));
            for ny in y0..=y1 {
                for nx in x0..=x1 {
                    let q = ny * width + nx;
                    if mask[q] && labels[q] == 0 {
                        labels[q] = label;
                        stack.push(q);
                    }
                }
            }
        }
        sizes.push(size);
    }
    sizes.len()
}

/// The 8-connected components of a mask (row-major, `width × height`): a label per pixel (0 =
/// background, 1..=n = component, numbered in raster order of each component's first pixel, like
/// `scipy.ndimage.label` with a 3×3 structure of ones and `skimage.measure.label`) and n.
///
/// These components are the ground-truth regions of AUPRO and of the official RD++ PRO.
/// Errors: a zero dimension or `mask.len() != width * height`.
///
/// ```
/// // Two diagonal pixels touch (8-connectivity); the third pixel is separate.
/// let mask = [true, false, false,
///             false, true, false,
///             false, false, false,
///             true, false, false];
/// let (labels, n) = rdpp_metrics::label_regions(&mask, 3, 4)?;
/// assert_eq!(n, 2);
/// assert_eq!(labels, [1, 0, 0, 0, 1, 0, 0, 0, 0, 2, 0, 0]);
/// # Ok::<(), rdpp_metrics::MetricError>(())
/// ```
pub fn label_regions(
    mask: &[bool],
    width: usize,
    height: usize,
) -> Result<(Vec<u32>, usize), MetricError> {
    let n = check_dims(width, height)?;
    if mask.len() != n {
        return Err(MetricError::LengthMismatch {
            what: "mask pixels and width × height".into(),
            left: mask.len(),
            right: n,
        });
    }
    let (mut labels, mut sizes) = (Vec::new(), Vec::new());
    let count = label_into(mask, width, height, &mut labels, &mut sizes);
    Ok((labels, count))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(rows: &[&str]) -> (Vec<bool>, usize, usize) {
        let w = rows[0].len();
        (
            rows.iter()
                .flat_map(|r| r.chars().map(|c| c == '#'))
                .collect(),
            w,
            rows.len(),
        )
    }

    #[test]
    fn eight_connectivity_and_raster_numbering() {
        let (m, w, h) = parse(&["#..#.", ".#.#.", "..#..", ".....", "##..#"]);
        let (labels, n) = label_regions(&m, w, h).unwrap();
        // The diagonal chain and the vertical bar meet through (2, 2) -> one region.
        assert_eq!(n, 3);
        assert_eq!(&labels[..5], &[1, 0, 0, 1, 0]);
        assert_eq!(&labels[20..], &[2, 2, 0, 0, 3]);
    }

    #[test]
    fn empty_full_and_thin_masks() {
        assert_eq!(label_regions(&[false; 6], 3, 2).unwrap().1, 0);
        assert_eq!(label_regions(&[true; 6], 3, 2).unwrap().1, 1);
        assert_eq!(label_regions(&[true, false, true], 3, 1).unwrap().1, 2);
        assert_eq!(label_regions(&[true, false, true], 1, 3).unwrap().1, 2);
        assert!(label_regions(&[true; 5], 3, 2).is_err());
        assert!(label_regions(&[], 0, 2).is_err());
    }
}
