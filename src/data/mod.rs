//! Datasets as tensors: a train and a validation split of images `[N, C, H, W]` (f32) and
//! masks `[N, H, W]` (int64), with class names and a palette. Built once and shared
//! read-only by every run that uses them.

pub mod synthetic;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use tch::Tensor;

pub use synthetic::SyntheticConfig;

/// Where a run's data come from: the `[data]` table of a configuration. `kind` selects the
/// source and defaults to `synthetic`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DataConfig {
    /// Generated in memory from a seed; needs no files.
    Synthetic(SyntheticConfig),
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig::Synthetic(SyntheticConfig::default())
    }
}

/// The values `data.kind` accepts.
const KINDS: &str = "synthetic";

impl<'de> Deserialize<'de> for DataConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut table = toml::Table::deserialize(deserializer)?;
        let kind = match table.remove("kind") {
            None => "synthetic".to_string(),
            Some(toml::Value::String(kind)) => kind,
            Some(other) => {
                return Err(D::Error::custom(format!(
                    "data.kind must be a string ({KINDS}), got {other}"
                )))
            }
        };
        let rest = toml::Value::Table(table);
        match kind.as_str() {
            "synthetic" => rest.try_into().map(DataConfig::Synthetic),
            other => {
                return Err(D::Error::custom(format!(
                    "unknown data.kind `{other}`; valid kinds are: {KINDS}"
                )))
            }
        }
        .map_err(|e| D::Error::custom(format!("in [data]: {}", e.message())))
    }
}

impl DataConfig {
    /// Builds the dataset this configuration describes.
    pub fn load(&self) -> anyhow::Result<Dataset> {
        match self {
            DataConfig::Synthetic(s) => Ok(s.generate()?),
        }
    }
}

/// Images and masks of one split.
#[derive(Debug)]
pub struct Split {
    pub images: Tensor,
    pub masks: Tensor,
}

impl Split {
    /// The number of images.
    pub fn len(&self) -> i64 {
        self.images.size()[0]
    }

    /// Whether the split holds no image.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A train and a validation split and what the classes are.
#[derive(Debug)]
pub struct Dataset {
    pub train: Split,
    pub val: Split,
    pub class_names: Vec<String>,
    pub palette: Vec<[u8; 3]>,
    pub ignore_index: Option<i64>,
}

impl Dataset {
    /// The number of classes (mask values other than `ignore_index` lie in `0..classes`).
    pub fn num_classes(&self) -> i64 {
        self.class_names.len() as i64
    }

    /// Channels of the images.
    pub fn in_channels(&self) -> i64 {
        self.train.images.size()[1]
    }

    /// Height and width of the images.
    pub fn image_size(&self) -> (i64, i64) {
        let s = self.train.images.size();
        (s[2], s[3])
    }
}
