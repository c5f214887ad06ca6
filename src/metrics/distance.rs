//! The exact Euclidean distance transform of a 2-D image (Felzenszwalb and Huttenlocher
//! 2012): for every pixel, the squared distance to the nearest site, in time linear in
//! the pixels, by the lower envelope of parabolas along columns and then along rows.

/// A squared distance larger than any in an image: pixels of a line without a site.
const FAR: f64 = f64::INFINITY;

/// The lower envelope of the parabolas `(q - p)² + f(p)` over the finite `f(p)`, written
/// into `out`; every `out` is infinite when no `f(p)` is finite.
fn envelope(f: &[f64], out: &mut [f64], v: &mut Vec<usize>, z: &mut Vec<f64>) {
    v.clear();
    z.clear();
    for (q, &fq) in f.iter().enumerate() {
        if fq.is_infinite() {
            continue;
        }
        let lifted = fq + (q * q) as f64;
        let mut left = f64::NEG_INFINITY;
        while let Some(&p) = v.last() {
            // Where the parabola of q overtakes that of p, the last one kept.
            let s = (lifted - (f[p] + (p * p) as f64)) / (2.0 * (q - p) as f64);
            if s <= z.last().copied().unwrap_or(f64::NEG_INFINITY) {
                v.pop();
                z.pop();
            } else {
                left = s;
                break;
            }
        }
        v.push(q);
        z.push(left);
    }
    if v.is_empty() {
        out.fill(FAR);
        return;
    }
    let mut k = 0;
    for (q, o) in out.iter_mut().enumerate() {
        while k + 1 < v.len() && z[k + 1] < q as f64 {
            k += 1;
        }
        let d = q as f64 - v[k] as f64;
        *o = d * d + f[v[k]];
    }
}

/// The squared Euclidean distance from each pixel of an `h × w` image (row-major) to the
/// nearest pixel where `site` is true; infinite everywhere when there is no site. Exact:
/// the squared distances are integers, computed in `f64`.
pub fn squared_distance(site: &[bool], h: usize, w: usize) -> Vec<f64> {
    let mut d: Vec<f64> = site.iter().map(|&s| if s { 0.0 } else { FAR }).collect();
    let (mut v, mut z) = (Vec::new(), Vec::new());
    let mut line = vec![0.0; h.max(w)];
    let mut out = vec![0.0; h.max(w)];
    for x in 0..w {
        for y in 0..h {
            line[y] = d[y * w + x];
        }
        envelope(&line[..h], &mut out[..h], &mut v, &mut z);
        for y in 0..h {
            d[y * w + x] = out[y];
        }
    }
    for y in 0..h {
        line[..w].copy_from_slice(&d[y * w..(y + 1) * w]);
        envelope(&line[..w], &mut out[..w], &mut v, &mut z);
        d[y * w..(y + 1) * w].copy_from_slice(&out[..w]);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The squared distances by brute force over every pair of pixels.
    fn brute(site: &[bool], h: usize, w: usize) -> Vec<f64> {
        (0..h * w)
            .map(|i| {
                (0..h * w)
                    .filter(|&j| site[j])
                    .map(|j| {
                        let (dy, dx) = (
                            (i / w) as f64 - (j / w) as f64,
                            (i % w) as f64 - (j % w) as f64,
                        );
                        dy * dy + dx * dx
                    })
                    .fold(FAR, f64::min)
            })
            .collect()
    }

    #[test]
    fn distances_equal_the_brute_force_minimum_over_sites() {
        let (h, w) = (9, 13);
        let mut state = 12345u64;
        for density in [1u64, 5, 20, 60] {
            let site: Vec<bool> = (0..h * w)
                .map(|_| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (state >> 33) % 100 < density
                })
                .collect();
            assert_eq!(
                squared_distance(&site, h, w),
                brute(&site, h, w),
                "density {density}"
            );
        }
    }

    #[test]
    fn one_site_gives_squared_distances_to_it() {
        let mut site = vec![false; 4 * 5];
        site[2 * 5 + 1] = true;
        let d = squared_distance(&site, 4, 5);
        assert_eq!(d[0], 4.0 + 1.0);
        assert_eq!(d[3 * 5 + 4], 1.0 + 9.0);
        assert_eq!(d[2 * 5 + 1], 0.0);
    }

    #[test]
    fn no_site_is_infinitely_far() {
        assert!(squared_distance(&[false; 6], 2, 3)
            .iter()
            .all(|d| d.is_infinite()));
    }
}
