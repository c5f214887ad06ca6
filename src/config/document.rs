//! Configuration errors that name the file, line and column, the key and the fix; and the
//! resolution of a TOML table into a checked [`RunConfig`].

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use toml::de::{DeTable, DeValue};

use super::{Invalid, RunConfig};
use crate::data::DataConfig;

/// A configuration that cannot be used, with where it came from and how to fix it.
#[derive(Debug, Clone)]
pub struct ConfigError {
    /// `file:line:column`, `file`, or `--set key=value`.
    pub origin: String,
    pub message: String,
    pub fix: Option<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.origin, self.message)?;
        if let Some(fix) = &self.fix {
            write!(f, "\n  fix: {fix}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    /// An error in the `--set` argument `text`.
    pub fn at_set(text: &str, message: String) -> Self {
        ConfigError {
            origin: format!("--set `{text}`"),
            message,
            fix: None,
        }
    }

    /// An error at `origin`.
    pub fn new(origin: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            origin: origin.into(),
            message: message.into(),
            fix: None,
        }
    }

    /// Adds how to fix it.
    pub fn with_fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
}

/// A TOML file as read: its path, its text (for positions) and its table.
#[derive(Debug, Clone)]
pub struct Document {
    pub path: PathBuf,
    text: String,
    pub table: toml::Table,
}

impl Document {
    /// Reads and parses `path`; a syntax error names its line and column.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::new(
                path.display().to_string(),
                format!("cannot read the file: {e}"),
            )
            .with_fix("check the path")
        })?;
        Self::parse(path, text)
    }

    /// Parses `text` as the contents of `path`.
    pub fn parse(path: &Path, text: String) -> Result<Self, ConfigError> {
        match toml::from_str::<toml::Table>(&text) {
            Ok(table) => Ok(Document {
                path: path.to_path_buf(),
                text,
                table,
            }),
            Err(e) => {
                let origin = match e.span() {
                    Some(span) => position(path, &text, span.start),
                    None => path.display().to_string(),
                };
                let message = e.message().trim();
                let fix = if message.contains("too large") {
                    format!(
                        "TOML integers are signed 64-bit: use a value of at most {}",
                        i64::MAX
                    )
                } else {
                    "correct the TOML syntax at that position".to_string()
                };
                Err(ConfigError::new(origin, format!("invalid TOML: {message}")).with_fix(fix))
            }
        }
    }

    /// A document with no file behind it (defaults and `--set` only).
    pub fn empty() -> Self {
        Document {
            path: PathBuf::from("(defaults)"),
            text: String::new(),
            table: toml::Table::new(),
        }
    }

    /// `file:line:column` of the deepest key of `keys` found in the file, or `file`. A key
    /// may be dotted (`optim.lr`): it is found whether the file quotes it (`"optim.lr" =`)
    /// or nests it (`optim.lr =`, `[grid.optim]`).
    pub fn locate(&self, keys: &[&str]) -> String {
        match self.offset(keys) {
            Some(offset) => position(&self.path, &self.text, offset),
            None => self.path.display().to_string(),
        }
    }

    /// The byte offset in the file of the deepest key of `keys` found there.
    pub fn offset(&self, keys: &[&str]) -> Option<usize> {
        let root = DeTable::parse(&self.text).ok()?;
        let parts: Vec<&str> = keys.iter().flat_map(|k| k.split('.')).collect();
        deepest(root.get_ref(), &parts).map(|(_, offset)| offset)
    }
}

/// How many of `parts` the deepest key found under `table` covers, and its offset; one key
/// of the file may cover several parts (`"optim.lr"` quoted covers `optim` and `lr`).
fn deepest(table: &DeTable<'_>, parts: &[&str]) -> Option<(usize, usize)> {
    let mut best: Option<(usize, usize)> = None;
    for (k, v) in table.iter() {
        let name = k.get_ref().as_ref();
        let Some(n) = (1..=parts.len()).find(|&n| parts[..n].join(".") == name) else {
            continue;
        };
        let here = (n, k.span().start);
        let found = match v.get_ref() {
            DeValue::Table(t) if n < parts.len() => deepest(t, &parts[n..])
                .map(|(depth, offset)| (n + depth, offset))
                .unwrap_or(here),
            _ => here,
        };
        if best.is_none_or(|(depth, _)| found.0 > depth) {
            best = Some(found);
        }
    }
    best
}

fn position(path: &Path, text: &str, offset: usize) -> String {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("{}:{line}:{column}", path.display())
}

/// Where the values of a resolved table came from, for locating errors: keys set on the
/// command line and keys set by a grid axis.
#[derive(Debug, Default, Clone)]
pub struct Origins {
    /// Dotted run key → the `--set` argument that set it.
    pub set: HashMap<String, String>,
    /// Dotted run key → the grid axis as written in the file, and the value it took.
    pub grid: HashMap<String, (String, toml::Value)>,
    /// The table the run keys live under in the file (`["base"]` in a sweep file).
    pub prefix: Vec<String>,
}

impl Origins {
    /// Where the value of the dotted run `key` came from.
    pub fn origin(&self, doc: &Document, key: &str) -> String {
        let covers = |k: &String| {
            key == k || key.starts_with(&format!("{k}.")) || k.starts_with(&format!("{key}."))
        };
        if let Some((_, text)) = self.set.iter().find(|(k, _)| covers(k)) {
            return format!("--set `{text}`");
        }
        if let Some((_, (axis, value))) = self.grid.iter().find(|(k, _)| covers(k)) {
            return format!(
                "{} (grid axis `{axis}` = {value})",
                doc.locate(&["grid", axis])
            );
        }
        let mut keys: Vec<&str> = self.prefix.iter().map(String::as_str).collect();
        keys.extend(key.split('.'));
        doc.locate(&keys)
    }
}

/// Every dotted key a run configuration accepts, for data of kind `kind` (of any kind when
/// `None`).
pub fn valid_keys(kind: Option<&str>) -> Vec<String> {
    let mut keys = Vec::new();
    if let Ok(table) = toml::Table::try_from(RunConfig::default()) {
        let mut run = Vec::new();
        flatten("", &table, &mut run);
        keys.extend(run.into_iter().filter(|k| !k.starts_with("data.")));
    }
    // Keys left out of the canonical form while unset.
    keys.extend(
        [
            "model.in_channels",
            "model.num_classes",
            "model.bn_momentum",
            "model.bn_eps",
            "model.bn_variance",
            "optim.schedule",
            "optim.eps",
            "optim.eps_hat",
            "preset",
            "train.select",
            "train.select_metric",
            "train.boundary_tolerance",
            "train.score_test",
            "train.order",
            "train.deterministic",
            "train.precision",
        ]
        .map(String::from),
    );
    keys.extend(super::loss::parameter_keys());
    keys.push("loss.label".to_string());
    let kinds = match kind {
        Some(k) => vec![k],
        None => DataConfig::KINDS.to_vec(),
    };
    for kind in kinds {
        if let Some(data) = DataConfig::default_of(kind) {
            keys.extend(data.keys().into_iter().map(|k| format!("data.{k}")));
        }
    }
    keys.sort();
    keys.dedup();
    keys
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut Vec<String>) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) => flatten(&key, t, out),
            _ => out.push(key),
        }
    }
}

/// The valid key closest to `key`, when one is close enough to be a likely typo.
pub fn closest<'a>(key: &str, valid: &'a [String]) -> Option<&'a String> {
    valid
        .iter()
        .map(|v| (strsim::levenshtein(key, v), v))
        .filter(|(d, v)| *d <= 3.max(v.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v)
}

/// [`valid_keys`] of data kind `kind` (any kind when `None`), worked out once per process:
/// every run of a sweep checks its keys against them.
fn cached_valid_keys(kind: Option<&str>) -> &'static [String] {
    static KEYS: OnceLock<Vec<(Option<&'static str>, Vec<String>)>> = OnceLock::new();
    let all = KEYS.get_or_init(|| {
        std::iter::once(None)
            .chain(DataConfig::KINDS.map(Some))
            .map(|kind| (kind, valid_keys(kind)))
            .collect()
    });
    all.iter()
        .find(|(k, _)| *k == kind)
        .map_or(&[], |(_, keys)| keys.as_slice())
}

/// The first key of `table` that is not a run configuration key.
fn unknown_key(table: &toml::Table, valid: &[String]) -> Option<String> {
    let mut keys = Vec::new();
    flatten("", table, &mut keys);
    keys.into_iter().find(|k| {
        !valid.iter().any(|v| {
            k.strip_prefix(v.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
        })
    })
}

/// Checks `table` key by key and turns it into a validated [`RunConfig`]; every error names
/// where the offending value came from.
pub fn resolve(
    table: &toml::Table,
    doc: &Document,
    origins: &Origins,
) -> Result<RunConfig, ConfigError> {
    let kind = table
        .get("data")
        .and_then(|d| d.get("kind"))
        .and_then(toml::Value::as_str)
        .unwrap_or("synthetic");
    let valid = cached_valid_keys(DataConfig::default_of(kind).map(|_| kind));
    if let Some(key) = unknown_key(table, valid) {
        let err = ConfigError::new(origins.origin(doc, &key), format!("unknown key `{key}`"));
        return Err(match closest(&key, valid) {
            Some(near) => err.with_fix(format!("did you mean `{near}`?")),
            None => err.with_fix(format!("valid keys are: {}", valid.join(", "))),
        });
    }
    let mut rest = table.clone();
    super::preset::apply(&mut rest)
        .map_err(|message| ConfigError::new(origins.origin(doc, "preset"), message))?;
    let data = match rest.remove("data") {
        None => DataConfig::default(),
        Some(toml::Value::Table(t)) => DataConfig::from_table(t).map_err(|(key, message)| {
            let key = format!("data.{key}");
            ConfigError::new(origins.origin(doc, &key), format!("`{key}`: {message}"))
        })?,
        Some(other) => {
            return Err(ConfigError::new(
                origins.origin(doc, "data"),
                format!("`data` must be a table, got {other}"),
            ))
        }
    };
    // AdamW's weight decay defaults to PyTorch's, not to the 0 of Adam and SGD.
    if let Some(toml::Value::Table(optim)) = rest.get_mut("optim") {
        if optim.get("name").and_then(toml::Value::as_str) == Some("adamw")
            && !optim.contains_key("weight_decay")
        {
            optim.insert(
                "weight_decay".into(),
                toml::Value::Float(super::ADAMW_WEIGHT_DECAY),
            );
        }
    }
    let mut config: RunConfig = serde_path_to_error::deserialize(toml::Value::Table(rest))
        .map_err(|e| {
            let key = e.path().to_string();
            ConfigError::new(
                origins.origin(doc, &key),
                format!("`{key}`: {}", e.inner().message().trim()),
            )
        })?;
    config.data = data;
    config.validate().map_err(|Invalid { key, message }| {
        ConfigError::new(origins.origin(doc, &key), format!("`{key}` {message}"))
    })?;
    // Sizes that cannot fit in memory are refused before anything is allocated.
    super::size::check(&config)
        .map_err(|e| ConfigError::new(origins.origin(doc, e.key), e.message).with_fix(e.fix))?;
    Ok(config)
}
