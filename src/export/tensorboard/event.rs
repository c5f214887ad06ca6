//! The few TensorBoard protocol buffer messages an event file of lossbench holds (the
//! fields of `event.proto`, `summary.proto`, `tensor.proto` and the HParams plugin's
//! `plugin_data.proto` that it uses, with their numbers), as `prost` messages, and the
//! events built from them: the file version, a scalar, a text and the run's hparams.

use std::collections::BTreeMap;

/// `tensorflow.Event`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Event {
    #[prost(double, tag = "1")]
    pub wall_time: f64,
    #[prost(int64, tag = "2")]
    pub step: i64,
    #[prost(oneof = "What", tags = "3, 5")]
    pub what: Option<What>,
}

/// `Event.what`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum What {
    #[prost(string, tag = "3")]
    FileVersion(String),
    #[prost(message, tag = "5")]
    Summary(Summary),
}

/// `tensorflow.Summary`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Summary {
    #[prost(message, repeated, tag = "1")]
    pub value: Vec<Value>,
}

/// `tensorflow.Summary.Value`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Value {
    #[prost(string, tag = "1")]
    pub tag: String,
    #[prost(message, optional, tag = "9")]
    pub metadata: Option<SummaryMetadata>,
    #[prost(oneof = "Kind", tags = "2, 8")]
    pub kind: Option<Kind>,
}

/// `Summary.Value.value`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Kind {
    #[prost(float, tag = "2")]
    SimpleValue(f32),
    #[prost(message, tag = "8")]
    Tensor(TensorProto),
}

/// `tensorflow.SummaryMetadata`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SummaryMetadata {
    #[prost(message, optional, tag = "1")]
    pub plugin_data: Option<PluginData>,
    /// `DataClass`: 2 is `DATA_CLASS_TENSOR`.
    #[prost(int32, tag = "4")]
    pub data_class: i32,
}

/// `SummaryMetadata.PluginData`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PluginData {
    #[prost(string, tag = "1")]
    pub plugin_name: String,
    #[prost(bytes = "vec", tag = "2")]
    pub content: Vec<u8>,
}

/// `tensorflow.TensorProto`, for a string tensor.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorProto {
    /// `DataType`: 7 is `DT_STRING`.
    #[prost(int32, tag = "1")]
    pub dtype: i32,
    /// No dimensions: a scalar.
    #[prost(message, optional, tag = "2")]
    pub tensor_shape: Option<TensorShapeProto>,
    #[prost(bytes = "vec", repeated, tag = "8")]
    pub string_val: Vec<Vec<u8>>,
}

/// `tensorflow.TensorShapeProto` (only the empty shape is written).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorShapeProto {}

/// `tensorboard.hparams.HParamsPluginData`, holding a session start.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HParamsPluginData {
    #[prost(int32, tag = "1")]
    pub version: i32,
    #[prost(message, optional, tag = "3")]
    pub session_start_info: Option<SessionStartInfo>,
}

/// `tensorboard.hparams.SessionStartInfo`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SessionStartInfo {
    #[prost(btree_map = "string, message", tag = "1")]
    pub hparams: BTreeMap<String, HParam>,
    #[prost(string, tag = "4")]
    pub group_name: String,
    #[prost(double, tag = "5")]
    pub start_time_secs: f64,
}

/// `google.protobuf.Value`, the value of one hyperparameter.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HParam {
    #[prost(oneof = "HParamKind", tags = "2, 3, 4")]
    pub kind: Option<HParamKind>,
}

/// `google.protobuf.Value.kind`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum HParamKind {
    #[prost(double, tag = "2")]
    Number(f64),
    #[prost(string, tag = "3")]
    Text(String),
    #[prost(bool, tag = "4")]
    Bool(bool),
}

/// The first event of every event file.
pub fn file_version(wall_time: f64) -> Event {
    Event {
        wall_time,
        step: 0,
        what: Some(What::FileVersion("brain.Event:2".into())),
    }
}

fn summary(wall_time: f64, step: i64, value: Value) -> Event {
    Event {
        wall_time,
        step,
        what: Some(What::Summary(Summary { value: vec![value] })),
    }
}

/// A scalar `tag` at `step`, as TensorBoard stores it: a 32-bit float.
pub fn scalar(wall_time: f64, step: i64, tag: &str, value: f64) -> Event {
    summary(
        wall_time,
        step,
        Value {
            tag: tag.into(),
            metadata: None,
            kind: Some(Kind::SimpleValue(value as f32)),
        },
    )
}

/// A text summary `tag` (the text plugin renders it as Markdown).
pub fn text(wall_time: f64, step: i64, tag: &str, markdown: &str) -> Event {
    let metadata = SummaryMetadata {
        plugin_data: Some(PluginData {
            plugin_name: "text".into(),
            content: Vec::new(),
        }),
        data_class: 2,
    };
    summary(
        wall_time,
        step,
        Value {
            tag: tag.into(),
            metadata: Some(metadata),
            kind: Some(Kind::Tensor(TensorProto {
                dtype: 7,
                tensor_shape: Some(TensorShapeProto {}),
                string_val: vec![markdown.as_bytes().to_vec()],
            })),
        },
    )
}

/// The HParams plugin's session start of one run: its hyperparameters, as PyTorch's
/// `SummaryWriter.add_hparams` writes them (tag `_hparams_/session_start_info`, no value).
pub fn hparams(wall_time: f64, group: &str, hparams: BTreeMap<String, HParam>) -> Event {
    let data = HParamsPluginData {
        version: 0,
        session_start_info: Some(SessionStartInfo {
            hparams,
            group_name: group.into(),
            start_time_secs: wall_time,
        }),
    };
    let metadata = SummaryMetadata {
        plugin_data: Some(PluginData {
            plugin_name: "hparams".into(),
            content: prost::Message::encode_to_vec(&data),
        }),
        data_class: 0,
    };
    summary(
        wall_time,
        0,
        Value {
            tag: "_hparams_/session_start_info".into(),
            metadata: Some(metadata),
            kind: None,
        },
    )
}

/// A hyperparameter's value from a TOML one: numbers as numbers, booleans as booleans,
/// anything else (strings, tables) as its text.
pub fn hparam(value: &toml::Value, text: String) -> HParam {
    let kind = match value {
        toml::Value::Integer(i) => HParamKind::Number(*i as f64),
        toml::Value::Float(f) => HParamKind::Number(*f),
        toml::Value::Boolean(b) => HParamKind::Bool(*b),
        _ => HParamKind::Text(text),
    };
    HParam { kind: Some(kind) }
}
