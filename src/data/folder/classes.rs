//! From raw mask labels to classes: the class names and palette (from the configuration, a
//! `name,r,g,b` CSV class table, or `dataset.json`), the `class_map` table that relabels,
//! merges or ignores labels, and a colour per class for the report.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::{bail, Context};

use super::decode::Decoded;
use super::masks::{LabelImage, IGNORE_COLOUR};
use super::{ClassTarget, FolderConfig, Meta};

impl FolderConfig {
    /// What the data say of their classes: `dataset.json` beside the data, its class names
    /// and palette replaced by those of the `class_dict` table when one is set.
    pub(super) fn meta(&self) -> anyhow::Result<Meta> {
        let mut meta = Meta::read(&self.root)?;
        if let Some(file) = &self.class_dict {
            let (names, palette) = read_class_dict(&self.root.join(file))?;
            meta.classes = Some(names);
            meta.palette = Some(palette);
        }
        Ok(meta)
    }

    /// Works out the classes and the raw-label → class table.
    /// `largest` gives the largest raw label of the masks (`ignore_index` and the ignore
    /// colour left out), asked only when the classes are named nowhere.
    pub(super) fn labels(
        &self,
        meta: &Meta,
        largest: impl FnOnce() -> anyhow::Result<u32>,
    ) -> anyhow::Result<Labels> {
        let mut table: HashMap<u32, Target> = HashMap::new();
        let ignore = self.ignore_index.or(meta.ignore_index);
        let Some(map) = &self.class_map else {
            let names = match (&self.classes, &meta.classes) {
                (Some(c), _) | (None, Some(c)) => c.clone(),
                (None, None) => (0..=largest()?).map(|i| format!("class_{i}")).collect(),
            };
            return Ok(Labels {
                names,
                table: None,
                source_of: Vec::new(),
            });
        };
        let source_names = meta.classes.clone().unwrap_or_default();
        let mut top = -1i64;
        for (source, target) in map {
            let raw = match source.parse::<u32>() {
                Ok(v) => v,
                Err(_) => match source_names.iter().position(|n| n == source) {
                    Some(i) => i as u32,
                    None => bail!(
                        "data.class_map: `{source}` is neither a label number nor a class name of {}/dataset.json ({})",
                        self.root.display(),
                        if source_names.is_empty() { "it lists none".to_string() } else { source_names.join(", ") }
                    ),
                },
            };
            let to = match target {
                ClassTarget::Index(i) if Some(*i) == ignore => Target::Ignore,
                ClassTarget::Index(i) => Target::Class(*i),
                ClassTarget::Name(n) if n == "ignore" => Target::Ignore,
                ClassTarget::Name(n) => Target::Class(
                    self.classes
                        .as_ref()
                        .and_then(|c| c.iter().position(|x| x == n))
                        .map_or(-1, |i| i as i64),
                ),
            };
            if let Target::Class(i) = to {
                top = top.max(i);
            }
            table.insert(raw, to);
        }
        let names = match &self.classes {
            Some(c) => c.clone(),
            None => (0..=top).map(|i| format!("class_{i}")).collect(),
        };
        let mut source_of = vec![None; names.len()];
        for (raw, to) in table.iter().collect::<BTreeMap<_, _>>() {
            if let Target::Class(i) = to {
                let slot = &mut source_of[*i as usize];
                if slot.is_none() {
                    *slot = Some(*raw);
                }
            }
        }
        Ok(Labels {
            names,
            table: Some(table),
            source_of,
        })
    }
}

/// The largest raw label of the masks `labels`, `ignore` and the ignore colour left out (0
/// when there is none).
pub(super) fn largest_label<'a>(
    labels: impl Iterator<Item = &'a LabelImage>,
    ignore: Option<i64>,
) -> u32 {
    labels
        .flat_map(|l| l.as_raw().iter())
        .filter(|&&v| v != IGNORE_COLOUR && Some(v as i64) != ignore)
        .max()
        .copied()
        .unwrap_or(0)
}

/// The class names and how raw labels become classes.
#[derive(Clone, Debug)]
pub(super) struct Labels {
    pub(super) names: Vec<String>,
    /// Raw label → class; `None` when labels are classes as they are.
    pub(super) table: Option<HashMap<u32, Target>>,
    /// Per class, the first raw label mapped to it (for its colour).
    pub(super) source_of: Vec<Option<u32>>,
}

#[derive(Clone, Copy, Debug)]
pub(super) enum Target {
    Class(i64),
    Ignore,
}

impl Labels {
    /// The classes of `d`'s mask as int64, `ignore` where ignored; an error names the file,
    /// the value and where it is.
    pub(super) fn apply(&self, d: &Decoded, ignore: Option<i64>) -> anyhow::Result<Vec<i64>> {
        let classes = self.names.len() as i64;
        let (w, _) = d.mask.labels.dimensions();
        let mut out = Vec::with_capacity(d.mask.labels.len());
        for (i, &raw) in d.mask.labels.as_raw().iter().enumerate() {
            let target = match (&self.table, raw) {
                (_, IGNORE_COLOUR) => Target::Ignore,
                (None, v) if Some(v as i64) == ignore => Target::Ignore,
                (None, v) => Target::Class(v as i64),
                (Some(t), v) => match t.get(&v) {
                    Some(t) => *t,
                    None if Some(v as i64) == ignore => Target::Ignore,
                    None => bail!(
                        "mask {}: label {v} at row {}, column {} is not in data.class_map; map it (e.g. \"{v}\" = 0) or set data.ignore_index = {v}",
                        d.pair.mask.display(),
                        i / w as usize,
                        i % w as usize
                    ),
                },
            };
            match target {
                Target::Ignore => out.push(ignore.unwrap_or(-1)),
                Target::Class(c) if (0..classes).contains(&c) => out.push(c),
                Target::Class(c) => bail!(
                    "mask {}: label {c} at row {}, column {} is not a class (0..={}, {} classes) nor data.ignore_index ({}); fix the mask, set data.ignore_index, or relabel with data.class_map",
                    d.pair.mask.display(),
                    i / w as usize,
                    i % w as usize,
                    classes - 1,
                    classes,
                    ignore.map_or("none set".into(), |v| v.to_string())
                ),
            }
        }
        Ok(out)
    }

    /// A colour per class: the palette's (through the class map), else the colours of the
    /// palette PNG `first` reads, else generated.
    pub(super) fn palette(
        &self,
        palette: Option<&[[u8; 3]]>,
        first: impl FnOnce() -> Option<Vec<[u8; 3]>>,
    ) -> Vec<[u8; 3]> {
        let source = palette
            .map(<[[u8; 3]]>::to_vec)
            .or_else(first)
            .unwrap_or_default();
        (0..self.names.len())
            .map(|class| {
                let raw = match &self.table {
                    None => Some(class as u32),
                    Some(_) => self.source_of[class],
                };
                raw.and_then(|r| source.get(r as usize).copied())
                    .unwrap_or_else(|| generated_colour(class))
            })
            .collect()
    }
}

/// A distinct colour for class `i` (golden-angle hues).
pub(super) fn generated_colour(i: usize) -> [u8; 3] {
    let hue = (i as f64 * 137.508) % 360.0;
    let sector = hue / 60.0;
    let x = 1.0 - (sector % 2.0 - 1.0).abs();
    let (r, g, b) = match sector as u32 {
        0 => (1.0, x, 0.0),
        1 => (x, 1.0, 0.0),
        2 => (0.0, 1.0, x),
        3 => (0.0, x, 1.0),
        4 => (x, 0.0, 1.0),
        _ => (1.0, 0.0, x),
    };
    let scale = |v: f64| (40.0 + v * 200.0) as u8;
    [scale(r), scale(g), scale(b)]
}

/// A `name,r,g,b` CSV class table: the class names and their colours, in label order.
pub(crate) fn read_class_dict(path: &Path) -> anyhow::Result<(Vec<String>, Vec<[u8; 3]>)> {
    #[derive(serde::Deserialize)]
    struct Row {
        name: String,
        r: u8,
        g: u8,
        b: u8,
    }
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .with_context(|| format!("cannot read data.class_dict {}", path.display()))?;
    let (mut names, mut palette) = (Vec::new(), Vec::new());
    for (i, row) in reader.deserialize::<Row>().enumerate() {
        let row = row.with_context(|| {
            format!(
                "{} row {}: expected the columns name,r,g,b with r, g, b in 0..=255 (e.g. `Sky,128,128,128`)",
                path.display(),
                i + 2
            )
        })?;
        names.push(row.name);
        palette.push([row.r, row.g, row.b]);
    }
    if names.is_empty() {
        bail!(
            "{} lists no class; write one `name,r,g,b` row per class under the header",
            path.display()
        );
    }
    Ok((names, palette))
}

#[cfg(test)]
mod tests {
    use super::super::tests::write_flat;
    use image::{Rgb, RgbImage};

    #[test]
    fn class_dict_csv_names_the_classes_and_decodes_colour_masks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let mut config = write_flat(root, 2);
        config.val_fraction = Some(0.5);
        config.class_map = None;
        for i in 0..2 {
            RgbImage::from_fn(16, 16, |x, _| {
                if x < 8 {
                    Rgb([128, 128, 128])
                } else {
                    Rgb([128, 64, 128])
                }
            })
            .save(root.join(format!("label/img_{i:02}.png")))
            .expect("mask");
        }
        std::fs::write(
            root.join("class_dict.csv"),
            "name,r,g,b\nSky,128,128,128\nRoad, 128, 64, 128\n",
        )
        .expect("write");
        config.class_dict = Some("class_dict.csv".into());
        let data = config.load().expect("loads");
        assert_eq!(data.class_names, ["Sky", "Road"]);
        assert_eq!(data.palette, [[128, 128, 128], [128, 64, 128]]);
        let row = Vec::<i64>::try_from(
            crate::data::feed::split_tensors(&data, &data.val)
                .1
                .get(0)
                .get(0),
        )
        .expect("row");
        assert_eq!((row[0], row[15]), (0, 1));

        std::fs::write(root.join("class_dict.csv"), "name,r,g,b\nSky,300,0,0\n").expect("write");
        let err = format!("{:#}", config.load().expect_err("a bad row"));
        assert!(
            err.contains("class_dict.csv row 2: expected the columns name,r,g,b"),
            "{err}"
        );
    }
}
