//! Datasets: a train and a validation split (and, when the data have one, a held-out test
//! split) of images and masks, kept compact in memory or read from files batch by batch
//! ([`samples`]), with class names and a palette; built once and shared read-only by every
//! run that uses them. Batches are made by [`loader`]'s workers in the order [`order`] draws.

pub mod augment;
pub mod example;
pub mod feed;
pub mod folder;
pub mod loader;
pub mod order;
pub mod samples;
pub mod synthetic;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};

pub use augment::AugmentConfig;
pub use folder::FolderConfig;
pub use loader::Loading;
pub use samples::{Batch, Cache, Split, Standardize};
pub use synthetic::SyntheticConfig;

/// Where a run's data come from: the `[data]` table of a configuration. `kind` selects the
/// source and defaults to `synthetic`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DataConfig {
    /// Generated in memory from a seed; needs no files.
    Synthetic(SyntheticConfig),
    /// Images and masks in folders.
    Folder(Box<FolderConfig>),
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig::Synthetic(SyntheticConfig::default())
    }
}

impl<'de> Deserialize<'de> for DataConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let table = toml::Table::deserialize(deserializer)?;
        DataConfig::from_table(table)
            .map_err(|(key, message)| D::Error::custom(format!("data.{key}: {message}")))
    }
}

impl DataConfig {
    /// Reads the `[data]` table; an error names the key inside `data` and what is wrong.
    pub fn from_table(mut table: toml::Table) -> Result<Self, (String, String)> {
        let kinds = Self::KINDS.join(", ");
        let kind = match table.remove("kind") {
            None => "synthetic".to_string(),
            Some(toml::Value::String(kind)) => kind,
            Some(other) => {
                return Err((
                    "kind".into(),
                    format!("must be a string ({kinds}), got {other}"),
                ))
            }
        };
        let rest = toml::Value::Table(table);
        let located = |e: serde_path_to_error::Error<toml::de::Error>| {
            (e.path().to_string(), e.inner().message().trim().to_string())
        };
        match kind.as_str() {
            "synthetic" => serde_path_to_error::deserialize(rest)
                .map(DataConfig::Synthetic)
                .map_err(located),
            "folder" => serde_path_to_error::deserialize(rest)
                .map(|f| DataConfig::Folder(Box::new(f)))
                .map_err(located),
            other => Err((
                "kind".into(),
                format!("unknown data kind `{other}`; valid kinds are: {kinds}"),
            )),
        }
    }

    /// The values `data.kind` accepts.
    pub const KINDS: [&'static str; 2] = ["synthetic", "folder"];

    /// Every key of this kind's table (`kind` included), optional ones too.
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = match toml::Table::try_from(self) {
            Ok(t) => t.keys().cloned().collect(),
            Err(_) => Vec::new(),
        };
        match self {
            DataConfig::Folder(_) => keys.extend(FolderConfig::OPTIONAL_KEYS.map(String::from)),
            DataConfig::Synthetic(_) => {
                keys.extend(SyntheticConfig::OPTIONAL_KEYS.map(String::from))
            }
        }
        keys
    }

    /// The default configuration of data kind `kind`, if there is such a kind.
    pub fn default_of(kind: &str) -> Option<DataConfig> {
        match kind {
            "synthetic" => Some(DataConfig::Synthetic(SyntheticConfig::default())),
            "folder" => Some(DataConfig::Folder(Box::default())),
            _ => None,
        }
    }

    /// Checks the values that no type rules out: the key inside `data` at fault and what
    /// is wrong.
    pub fn validate(&self) -> Result<(), (String, String)> {
        match self {
            DataConfig::Synthetic(s) => s
                .validate()
                .map_err(|e| (e.key().to_string(), e.to_string())),
            DataConfig::Folder(f) => f.validate().map_err(|e| (e.key, e.message)),
        }
    }

    /// Builds the dataset this configuration describes.
    pub fn load(&self) -> anyhow::Result<Dataset> {
        match self {
            DataConfig::Synthetic(s) => Ok(s.generate()?),
            DataConfig::Folder(f) => f.load(),
        }
    }
}

/// A train and a validation split, an optional test split, and what the classes are;
/// cheap to clone (the splits' samples are shared).
#[derive(Clone, Debug)]
pub struct Dataset {
    pub train: Split,
    pub val: Split,
    /// The held-out test split (`data.test`, `data.test_fraction`, `data.test_images`):
    /// never trained on nor selected on; every run is evaluated on it once, after training.
    pub test: Option<Split>,
    pub class_names: Vec<String>,
    pub palette: Vec<[u8; 3]>,
    pub ignore_index: Option<i64>,
    /// Per-channel mean and standard deviation the images are standardised with.
    pub normalization: Option<(Vec<f64>, Vec<f64>)>,
    /// Whether training flips images left-right at random (drawn with the batch order:
    /// [`order`]).
    pub hflip: bool,
    /// The files of each split, for data read from files.
    pub files: Option<SplitFiles>,
    /// Per training image, its pixels of each class (`ignore_index` left out).
    pub train_class_counts: Vec<Vec<i64>>,
    /// How batches are built (`data.workers`, `data.prefetch`).
    pub loading: Loading,
    /// How training images are augmented, when they are.
    pub augmentation: Option<Augmentation>,
}

/// How training images are augmented: the `[data.augment]` table and the size they are
/// cropped (or padded) to, `data.crop`.
#[derive(Clone, Debug)]
pub struct Augmentation {
    pub config: AugmentConfig,
    pub crop: Option<(i64, i64)>,
}

/// The files of each split, as paths relative to the dataset's folder: what a sweep's
/// `dataset.json` records of the data.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SplitFiles {
    pub train: Vec<String>,
    pub val: Vec<String>,
    /// The test split's files, when the data have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<Vec<String>>,
    /// With `data.folds`, the validation files of each fold, in fold order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folds: Option<Vec<Vec<String>>>,
}

impl Dataset {
    /// Bytes held in memory by the images and masks of every split.
    pub fn bytes(&self) -> usize {
        [Some(&self.train), Some(&self.val), self.test.as_ref()]
            .into_iter()
            .flatten()
            .map(Split::bytes)
            .sum()
    }

    /// The number of classes (mask values other than `ignore_index` lie in `0..classes`).
    pub fn num_classes(&self) -> i64 {
        self.class_names.len() as i64
    }

    /// Channels of the images.
    pub fn in_channels(&self) -> i64 {
        self.train.channels()
    }

    /// How a batch's kept pixels become the network's input.
    pub fn standardize(&self) -> Standardize {
        Standardize {
            normalization: self.normalization.clone(),
        }
    }

    /// The first `k` images of `split` as they were read, `f32` in [0, 1], for showing, and
    /// their masks (kept kind).
    pub fn display_images(&self, split: &Split, k: i64) -> anyhow::Result<Batch> {
        let first = split.first(k)?;
        Ok(Batch {
            images: Standardize::default().input(&first.images, tch::Device::Cpu),
            masks: first.masks,
        })
    }

    /// Height and width of the training batches' images: the crop of the augmentation, else
    /// the images' own (the first's, when they differ).
    pub fn image_size(&self) -> (i64, i64) {
        if let Some(crop) = self.augmentation.as_ref().and_then(|a| a.crop) {
            return crop;
        }
        self.train
            .uniform_size()
            .or_else(|| self.train.sizes().first().copied())
            .unwrap_or((0, 0))
    }
}
