//! Boundary metrics of one split, per class, from the argmax prediction and the target on
//! the CPU: the 95th-percentile Hausdorff distance and the normalised surface Dice as MONAI
//! 1.6.1 computes them per image (`compute_hausdorff_distance(percentile=95)`,
//! `compute_surface_dice`, Euclidean, unit spacing), and the boundary IoU of Cheng et al.
//! (2021).
//!
//! A class's boundary in an image is, as MONAI's `get_mask_edges`, its pixels with a
//! 4-neighbour outside it (outside the image counts as outside). Distances between
//! boundaries come from the exact Euclidean distance transform ([`super::distance`]), not
//! from pairs of pixels. Pixels whose target is `ignore_index` belong to no class in either
//! the prediction or the target.
//!
//! MONAI's rules for empty masks hold per image and class: neither the prediction nor the
//! target has the class → both metrics are NaN, and that pair is left out of every mean and
//! counted (`both_empty`); exactly one has it → the Hausdorff distance is infinite (left out
//! of its mean, counted in `one_empty`) and the surface Dice 0 (averaged like any value).

use super::distance::squared_distance;

/// The boundary metrics of one class in one image.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClassBoundary {
    /// The symmetric 95th-percentile Hausdorff distance in pixels: NaN when neither mask has
    /// the class, infinite when one of them has it.
    pub hd95: f64,
    /// The normalised surface Dice at the tolerance: NaN when neither mask has the class.
    pub nsd: f64,
    /// Pixels in both boundary bands of Cheng et al.'s boundary IoU.
    pub band_intersection: u64,
    /// Pixels in either band.
    pub band_union: u64,
}

/// `mask`'s pixels with a 4-neighbour outside it or at the image's edge.
fn edges(mask: &[bool], h: usize, w: usize) -> Vec<bool> {
    let at = |y: isize, x: isize| {
        y >= 0
            && x >= 0
            && (y as usize) < h
            && (x as usize) < w
            && mask[y as usize * w + x as usize]
    };
    (0..h * w)
        .map(|i| {
            let (y, x) = ((i / w) as isize, (i % w) as isize);
            mask[i] && !(at(y - 1, x) && at(y + 1, x) && at(y, x - 1) && at(y, x + 1))
        })
        .collect()
}

/// Cheng et al.'s boundary band: the pixels of `mask` within chessboard distance `d` of a
/// pixel outside it (outside the image counts as outside), `mask` minus its erosion by a
/// 3×3 square `d` times, as their `mask_to_boundary` does with OpenCV.
fn band(mask: &[bool], h: usize, w: usize, d: usize) -> Vec<bool> {
    let mut eroded = mask.to_vec();
    let mut rows = vec![false; h * w];
    for _ in 0..d {
        for y in 0..h {
            for x in 0..w {
                let i = y * w + x;
                rows[i] = eroded[i] && x > 0 && x + 1 < w && eroded[i - 1] && eroded[i + 1];
            }
        }
        for y in 0..h {
            for x in 0..w {
                let i = y * w + x;
                eroded[i] = rows[i] && y > 0 && y + 1 < h && rows[i - w] && rows[i + w];
            }
        }
    }
    mask.iter().zip(&eroded).map(|(&m, &e)| m && !e).collect()
}

/// The 95th percentile of `values` as `torch.quantile` takes it: linear interpolation
/// between the sorted values at position `0.95 (n - 1)`.
fn percentile_95(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let position = 0.95 * (values.len() - 1) as f64;
    let (low, high) = (position.floor() as usize, position.ceil() as usize);
    let weight = position - low as f64;
    values[low] + weight * (values[high] - values[low])
}

/// The distances from each pixel of `from` to the nearest pixel of `to`, where `to_squared`
/// is the squared distance transform of `to`.
fn distances(from: &[bool], to_squared: &[f64]) -> Vec<f64> {
    from.iter()
        .zip(to_squared)
        .filter(|(&f, _)| f)
        .map(|(_, &d)| d.sqrt())
        .collect()
}

/// The smallest rectangle `(y0, y1, x0, x1)`, half-open, that holds every true pixel of
/// either mask; `None` when both are empty.
fn bounding_box(a: &[bool], b: &[bool], w: usize) -> Option<(usize, usize, usize, usize)> {
    let mut found: Option<(usize, usize, usize, usize)> = None;
    for (i, _) in a.iter().zip(b).enumerate().filter(|(_, (&a, &b))| a || b) {
        let (y, x) = (i / w, i % w);
        found = Some(match found {
            None => (y, y + 1, x, x + 1),
            Some((y0, y1, x0, x1)) => (y0.min(y), y1.max(y + 1), x0.min(x), x1.max(x + 1)),
        });
    }
    found
}

/// The pixels of `mask` (`w` wide) inside the rectangle, row-major.
fn crop(mask: &[bool], w: usize, (y0, y1, x0, x1): (usize, usize, usize, usize)) -> Vec<bool> {
    (y0..y1)
        .flat_map(|y| mask[y * w + x0..y * w + x1].iter().copied())
        .collect()
}

/// The boundary metrics of one class between a prediction mask and a target mask of
/// `h × w` pixels, at `tolerance` pixels (the surface Dice's tolerance and the boundary
/// band's width, rounded down to whole pixels for the band).
///
/// Everything is computed on the smallest rectangle that holds both masks, which gives the
/// same values as the whole image: outside it no pixel has the class, so its edges, its
/// bands and the distances between its edges are the same as in the whole image.
pub fn class_boundary(
    prediction: &[bool],
    target: &[bool],
    h: usize,
    w: usize,
    tolerance: f64,
) -> ClassBoundary {
    debug_assert_eq!(prediction.len(), h * w);
    let Some(rectangle) = bounding_box(prediction, target, w) else {
        return ClassBoundary {
            hd95: f64::NAN,
            nsd: f64::NAN,
            band_intersection: 0,
            band_union: 0,
        };
    };
    let (y0, y1, x0, x1) = rectangle;
    let (prediction, target) = (crop(prediction, w, rectangle), crop(target, w, rectangle));
    let (prediction, target, h, w) = (&prediction[..], &target[..], y1 - y0, x1 - x0);
    let (has_p, has_t) = (prediction.contains(&true), target.contains(&true));
    let width = tolerance.max(0.0).floor() as usize;
    let (band_p, band_t) = (band(prediction, h, w, width), band(target, h, w, width));
    let band_intersection = band_p.iter().zip(&band_t).filter(|(&a, &b)| a && b).count() as u64;
    let band_union = band_p.iter().zip(&band_t).filter(|(&a, &b)| a || b).count() as u64;
    let (hd95, nsd) = match (has_p, has_t) {
        (false, false) => (f64::NAN, f64::NAN),
        (true, false) | (false, true) => (f64::INFINITY, 0.0),
        (true, true) => {
            let (edge_p, edge_t) = (edges(prediction, h, w), edges(target, h, w));
            let mut p_to_t = distances(&edge_p, &squared_distance(&edge_t, h, w));
            let mut t_to_p = distances(&edge_t, &squared_distance(&edge_p, h, w));
            let within = |d: &[f64]| d.iter().filter(|&&d| d <= tolerance).count();
            let nsd =
                (within(&p_to_t) + within(&t_to_p)) as f64 / (p_to_t.len() + t_to_p.len()) as f64;
            (
                percentile_95(&mut p_to_t).max(percentile_95(&mut t_to_p)),
                nsd,
            )
        }
    };
    ClassBoundary {
        hd95,
        nsd,
        band_intersection,
        band_union,
    }
}

/// The boundary metrics of every class in one image: `prediction` and `target` are class
/// indices of `h × w` pixels; target pixels equal to `ignore` belong to no class in either.
pub fn image_boundaries(
    prediction: &[i64],
    target: &[i64],
    h: usize,
    w: usize,
    classes: usize,
    ignore: Option<i64>,
    tolerance: f64,
) -> Vec<ClassBoundary> {
    let valid: Vec<bool> = target.iter().map(|&t| Some(t) != ignore).collect();
    (0..classes as i64)
        .map(|c| {
            let p: Vec<bool> = prediction
                .iter()
                .zip(&valid)
                .map(|(&p, &v)| v && p == c)
                .collect();
            let t: Vec<bool> = target.iter().map(|&t| t == c).collect();
            class_boundary(&p, &t, h, w, tolerance)
        })
        .collect()
}

/// The boundary metrics of a split, per class and their means over the classes that have a
/// value (see the module's rules for empty masks).
#[derive(Clone, Debug, PartialEq)]
pub struct Boundary {
    /// Mean over images of the finite HD95, `None` where no image has one.
    pub hd95_per_class: Vec<Option<f64>>,
    /// Mean over images of the surface Dice where it is defined.
    pub nsd_per_class: Vec<Option<f64>>,
    /// Boundary IoU over the whole split: band intersections over band unions, summed over
    /// images; `None` where the bands are empty in every image.
    pub biou_per_class: Vec<Option<f64>>,
    pub hd95: f64,
    pub nsd: f64,
    pub biou: f64,
    /// Image × class pairs where neither mask has the class (NaN, left out).
    pub both_empty: u64,
    /// Image × class pairs where exactly one mask has it (HD95 infinite and left out of its
    /// mean; surface Dice 0).
    pub one_empty: u64,
}

/// Running sums of [`ClassBoundary`] over a split's images.
pub struct BoundaryAccumulator {
    classes: usize,
    ignore: Option<i64>,
    tolerance: f64,
    /// Per class: (sum, count) of finite HD95, (sum, count) of defined NSD, band sums.
    hd95: Vec<(f64, u64)>,
    nsd: Vec<(f64, u64)>,
    bands: Vec<(u64, u64)>,
    both_empty: u64,
    one_empty: u64,
}

impl BoundaryAccumulator {
    /// Empty sums for `classes` classes at `tolerance` pixels.
    pub fn new(classes: usize, ignore: Option<i64>, tolerance: f64) -> Self {
        BoundaryAccumulator {
            classes,
            ignore,
            tolerance,
            hd95: vec![(0.0, 0); classes],
            nsd: vec![(0.0, 0); classes],
            bands: vec![(0, 0); classes],
            both_empty: 0,
            one_empty: 0,
        }
    }

    /// Adds a batch of images: `prediction` and `target` hold `n × h × w` class indices.
    pub fn update(&mut self, prediction: &[i64], target: &[i64], h: usize, w: usize) {
        let size = h * w;
        for (p, t) in prediction.chunks(size).zip(target.chunks(size)) {
            let per_class = image_boundaries(p, t, h, w, self.classes, self.ignore, self.tolerance);
            for (k, b) in per_class.iter().enumerate() {
                if b.hd95.is_nan() {
                    self.both_empty += 1;
                } else if b.hd95.is_infinite() {
                    self.one_empty += 1;
                } else {
                    self.hd95[k].0 += b.hd95;
                    self.hd95[k].1 += 1;
                }
                if !b.nsd.is_nan() {
                    self.nsd[k].0 += b.nsd;
                    self.nsd[k].1 += 1;
                }
                self.bands[k].0 += b.band_intersection;
                self.bands[k].1 += b.band_union;
            }
        }
    }

    /// The per-class values and their means.
    pub fn finish(&self) -> Boundary {
        let mean = |(sum, n): &(f64, u64)| (*n > 0).then(|| sum / *n as f64);
        let hd95_per_class: Vec<Option<f64>> = self.hd95.iter().map(mean).collect();
        let nsd_per_class: Vec<Option<f64>> = self.nsd.iter().map(mean).collect();
        let biou_per_class: Vec<Option<f64>> = self
            .bands
            .iter()
            .map(|&(i, u)| (u > 0).then(|| i as f64 / u as f64))
            .collect();
        Boundary {
            hd95: mean_of_present(&hd95_per_class),
            nsd: mean_of_present(&nsd_per_class),
            biou: mean_of_present(&biou_per_class),
            hd95_per_class,
            nsd_per_class,
            biou_per_class,
            both_empty: self.both_empty,
            one_empty: self.one_empty,
        }
    }
}

/// The mean of the values present, NaN when there is none.
pub fn mean_of_present(values: &[Option<f64>]) -> f64 {
    let present: Vec<f64> = values.iter().flatten().copied().collect();
    if present.is_empty() {
        f64::NAN
    } else {
        present.iter().sum::<f64>() / present.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An `h × w` mask that is true inside the rectangle `[y0, y1) × [x0, x1)`.
    fn rect(h: usize, w: usize, (y0, y1, x0, x1): (usize, usize, usize, usize)) -> Vec<bool> {
        (0..h * w)
            .map(|i| (y0..y1).contains(&(i / w)) && (x0..x1).contains(&(i % w)))
            .collect()
    }

    #[test]
    fn identical_masks_score_zero_distance_and_full_surface_dice() {
        let m = rect(10, 12, (2, 7, 3, 9));
        let b = class_boundary(&m, &m, 10, 12, 2.0);
        assert_eq!((b.hd95, b.nsd), (0.0, 1.0));
        assert_eq!(b.band_intersection, b.band_union);
    }

    #[test]
    fn a_square_shifted_by_three_pixels_is_three_pixels_away() {
        // Every edge pixel of one square is within 3 of the other; the sides facing each
        // other along the shift are exactly 3 away, the others closer.
        let (a, b) = (rect(20, 20, (5, 11, 5, 11)), rect(20, 20, (5, 11, 8, 14)));
        let m = class_boundary(&a, &b, 20, 20, 2.0);
        assert!(m.hd95 <= 3.0 && m.hd95 > 2.0, "{}", m.hd95);
        assert!(m.nsd > 0.0 && m.nsd < 1.0);
        assert_eq!(class_boundary(&a, &b, 20, 20, 3.0).nsd, 1.0);
    }

    #[test]
    fn empty_masks_give_nan_for_both_and_inf_and_zero_for_one() {
        let (none, some) = (vec![false; 16], rect(4, 4, (1, 3, 1, 3)));
        let both = class_boundary(&none, &none, 4, 4, 2.0);
        assert!(both.hd95.is_nan() && both.nsd.is_nan());
        let one = class_boundary(&none, &some, 4, 4, 2.0);
        assert!(one.hd95.is_infinite() && one.nsd == 0.0);
        let mut acc = BoundaryAccumulator::new(2, None, 2.0);
        // Image of class 0 everywhere, predicted as class 1 everywhere.
        acc.update(&[1; 16], &[0; 16], 4, 4);
        let b = acc.finish();
        assert_eq!((b.both_empty, b.one_empty), (0, 2));
        assert_eq!(b.hd95_per_class, vec![None, None]);
        assert!(b.hd95.is_nan(), "no finite distance is averaged");
        assert_eq!(b.nsd_per_class, vec![Some(0.0), Some(0.0)]);
    }

    #[test]
    fn the_boundary_band_is_the_mask_within_the_width_of_its_outside() {
        let m = rect(8, 8, (0, 8, 0, 8));
        let b = band(&m, 8, 8, 2);
        // The image's edge is outside: a 2-pixel frame of 64 - 16 pixels.
        assert_eq!(b.iter().filter(|&&x| x).count(), 64 - 16);
        assert!(!b[3 * 8 + 3] && b[8 + 5]);
    }

    #[test]
    fn ignored_pixels_belong_to_no_class() {
        let target = [0, 0, 255, 1];
        let per_class = image_boundaries(&[0, 0, 1, 1], &target, 2, 2, 2, Some(255), 1.0);
        // Class 1 is predicted at the ignored pixel too, but only its valid pixel counts:
        // the prediction's class-1 mask equals the target's.
        assert_eq!(per_class[1].hd95, 0.0);
        assert_eq!(per_class[1].band_intersection, per_class[1].band_union);
    }
}
