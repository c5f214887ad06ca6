//! The table of every key a sweep file takes: its type, default, range and meaning, from
//! which `docs/reference.md` is generated ([`reference_markdown`]). `tests/docs.rs` checks
//! the table against the parser (every run key is one [`super::valid_keys`] accepts, and
//! every one it accepts is here) and against the defaults (setting a key to the default
//! listed here changes nothing), and the file against the generated text.

/// What a key is when a file leaves it out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyDefault {
    /// This value, written as TOML: setting it changes nothing.
    Value(&'static str),
    /// The key stays unset; the text says what that means.
    Unset(&'static str),
}

/// One key of a sweep file.
#[derive(Clone, Copy, Debug)]
pub struct Key {
    /// The dotted key as `[base]` or `--set` writes it (`<...>` stands for a name).
    pub key: &'static str,
    /// Its TOML type.
    pub ty: &'static str,
    pub default: KeyDefault,
    /// The values it accepts.
    pub range: &'static str,
    /// What it does.
    pub meaning: &'static str,
}

/// A group of keys: a table of the sweep file.
#[derive(Clone, Copy, Debug)]
pub struct Section {
    pub title: &'static str,
    /// A sentence on where the keys are written.
    pub intro: &'static str,
    pub keys: &'static [Key],
}

use KeyDefault::{Unset, Value};

const fn key(
    key: &'static str,
    ty: &'static str,
    default: KeyDefault,
    range: &'static str,
    meaning: &'static str,
) -> Key {
    Key {
        key,
        ty,
        default,
        range,
        meaning,
    }
}

#[rustfmt::skip]
const RUN: &[Key] = &[
    key("device", "string", Value("\"\""), "`\"cpu\"` (also `\"\"`), `\"cuda\"`, `\"cuda:N\"`, `\"auto\"`", "where runs train; `auto` takes CUDA when libtorch sees a GPU"),
    key("preset", "string", Value("\"pytorch\""), "`\"pytorch\"`, `\"keras\"`", "whose defaults the unset keys take (`keras`: every Keras 3 default, see parity.md)"),
];

#[rustfmt::skip]
const MODEL: &[Key] = &[
    key("model.in_channels", "integer", Unset("the data's channels"), "≥ 1", "input channels of the U-Net"),
    key("model.num_classes", "integer", Unset("the data's classes"), "≥ 1", "output channels, one per class"),
    key("model.base_channels", "integer", Value("16"), "≥ 1", "channels of the first level; each level down doubles them"),
    key("model.depth", "integer", Value("4"), "1 to 8", "levels of the U-Net"),
    key("model.batch_norm", "boolean", Value("true"), "", "batch norm after every convolution"),
    key("model.channels_last", "boolean", Value("true"), "", "NHWC memory layout: the same maths, faster convolutions on CPU"),
    key("model.init", "string", Value("\"pytorch\""), "`\"pytorch\"`, `\"keras\"`, `\"kaiming\"`", "initial weights: torch.nn's defaults, glorot_uniform, or He normal (fan_out)"),
    key("model.bn_momentum", "float", Value("0.1"), "[0, 1]", "weight of the new batch statistic (PyTorch's convention; Keras' momentum=0.99 is 0.01)"),
    key("model.bn_eps", "float", Value("1e-5"), "> 0", "batch norm's ε"),
    key("model.bn_variance", "string", Value("\"unbiased\""), "`\"unbiased\"`, `\"biased\"`", "which batch variance the running variance averages (n − 1 or n)"),
];

#[rustfmt::skip]
const LOSS: &[Key] = &[
    key("loss.name", "string", Value("\"cce\""), "`cce`, `bce`, `dice`, `iou`, `bce_dice`, `cce_dice`, `focal`, `tversky`, `depth_softmax_cce`, `generalized_dice`, `lovasz`, `script`", "the loss (as a grid axis: `loss`)"),
    key("loss.scale", "float", Value("1.0"), "> 0", "multiplies the training loss (not the recorded value): a gradient-scale control"),
    key("loss.gamma", "float", Unset("2"), "≥ 0; focal", "focal's focusing exponent γ"),
    key("loss.alpha", "float", Unset("focal: none; tversky: 0.3"), "focal: [0, 1]; tversky: ≥ 0", "focal's class balance; tversky's weight of false positives"),
    key("loss.beta", "float", Unset("0.7"), "≥ 0; tversky", "tversky's weight of false negatives"),
    key("loss.class_weights", "list or string", Unset("none"), "one weight ≥ 0 per class, `\"inverse_frequency\"`, `\"median_frequency\"`; cce, bce, focal, bce_dice, cce_dice", "per-class weights, given or from the training split's pixels"),
    key("loss.pos_weight", "float or list", Unset("none"), "≥ 0, one or one per channel; bce, bce_dice", "BCE's weight of positives, as `BCEWithLogitsLoss(pos_weight=)`"),
    key("loss.include_background", "boolean", Unset("true"), "dice, iou, tversky, generalized_dice, lovasz, bce_dice, cce_dice", "whether class 0 counts in the overlap score"),
    key("loss.smooth", "float", Unset("0"), "≥ 0; the overlap losses", "added to numerator and denominator of each score, `(2I + s)/(P + A + s)`"),
    key("loss.weights", "table", Unset("1 each"), "bce_dice, cce_dice", "a compound's term weights, e.g. `{ bce = 1.0, dice = 0.5 }`"),
    key("loss.from_logits", "boolean", Unset("true"), "cce, bce, depth_softmax_cce, bce_dice, cce_dice", "`false`: cross-entropy from probabilities clipped to [ε, 1 − ε], as Keras"),
    key("loss.epsilon", "float", Unset("1e-7"), "(0, 0.5); with `from_logits = false`", "that clip ε"),
    key("loss.path", "string", Unset("none"), "a TorchScript file; `name = \"script\"`", "your own loss module"),
    key("loss.script_hash", "string", Unset("written by lossbench"), "", "the BLAKE3 hash of `loss.path`, recorded in a run's `config.toml`"),
    key("loss.label", "string", Unset("made from what varies"), "", "the loss's name in frames, legends and verdicts"),
];

#[rustfmt::skip]
const OPTIM: &[Key] = &[
    key("optim.name", "string", Value("\"adam\""), "`\"adam\"`, `\"adamw\"`, `\"sgd\"`", "the optimizer (PyTorch's CPU implementation, step for step)"),
    key("optim.lr", "float", Value("1e-3"), "> 0", "the learning rate"),
    key("optim.momentum", "float", Value("0.9"), "[0, 1); sgd", "SGD's momentum"),
    key("optim.weight_decay", "float", Value("0.0"), "≥ 0", "L2 decay (adam, sgd), decoupled (adamw, whose default is 0.01)"),
    key("optim.schedule", "string", Value("\"constant\""), "`\"constant\"`, `\"poly\"`, `\"cosine\"`", "the learning-rate schedule, per step"),
    key("optim.eps", "float", Value("1e-8"), "> 0", "Adam's and AdamW's ε"),
    key("optim.eps_hat", "boolean", Value("false"), "", "`true`: ε added before the bias correction (Keras, TensorFlow)"),
];

#[rustfmt::skip]
const TRAIN: &[Key] = &[
    key("train.epochs", "integer", Value("10"), "≥ 1", "epochs of training"),
    key("train.batch_size", "integer", Value("8"), "≥ 1", "images per step"),
    key("train.seed", "integer", Value("0"), "0 to 2⁶³ − 1", "seeds the initial weights and the shuffling (as a grid axis: `seed`)"),
    key("train.threads", "integer", Value("0"), "≥ 0", "libtorch threads per run; 0 = cores / jobs"),
    key("train.drop_last", "boolean", Value("false"), "", "drop each epoch's last, smaller batch (DataLoader keeps it)"),
    key("train.select", "string", Value("\"last\""), "`\"last\"`, `\"best_val\"`", "which epoch's weights a run keeps and is judged by"),
    key("train.select_metric", "string", Unset("`val_miou`"), "`val_miou`, `val_loss`, `pixel_accuracy`, `binary_accuracy`; with `best_val`", "what `best_val` selects on"),
    key("train.score_test", "boolean", Value("true"), "", "score the finished run on the test split, when there is one"),
    key("train.order", "string", Value("\"pytorch\""), "`\"pytorch\"`, `\"chacha\"`", "the batch order and flips: as `DataLoader(shuffle=True)` after `torch.manual_seed(seed)`, or lossbench's own of earlier runs"),
    key("train.deterministic", "boolean", Value("false"), "", "libtorch's deterministic algorithms, cuDNN deterministic and not benchmarking, `CUBLAS_WORKSPACE_CONFIG=:4096:8`, for the whole process: what a CUDA rerun needs to give the same bits ([gpu.md](gpu.md))"),
    key("train.precision", "string", Value("\"fp32\""), "`\"fp32\"`, `\"bf16\"`, `\"fp16\"`", "the forward pass under `torch.autocast`'s rules (convolutions in the lower precision, loss and metrics in float32); `fp16` scales the loss as `torch.amp.GradScaler` does and counts its skipped steps ([gpu.md](gpu.md))"),
    key("train.boundary_tolerance", "float", Unset("2 (`report.boundary_tolerance`)"), "[0, 1000] pixels", "the surface Dice's tolerance and the boundary IoU's band"),
];

#[rustfmt::skip]
const SYNTHETIC: &[Key] = &[
    key("data.kind", "string", Value("\"synthetic\""), "`\"synthetic\"`, `\"folder\"`", "built-in shapes, or a folder of images and masks"),
    key("data.height", "integer", Value("64"), "≥ 16", "image height"),
    key("data.width", "integer", Value("64"), "≥ 16", "image width"),
    key("data.train_images", "integer", Value("192"), "≥ 1", "training images"),
    key("data.val_images", "integer", Value("48"), "≥ 1", "validation images"),
    key("data.test_images", "integer", Value("0"), "≥ 0", "held-out test images, from a stream of their own"),
    key("data.noise", "float", Value("0.1"), "≥ 0", "standard deviation of the Gaussian noise on every pixel"),
    key("data.fill", "float", Value("0.75"), "[0, 1]", "the probability that a cell holds a shape"),
    key("data.class_weights", "list", Value("[1.0, 1.0, 0.8, 0.8, 0.6, 0.12]"), "6 numbers ≥ 0, positive sum", "frequency of the six shapes (disc, square, two triangles, ring, cross)"),
    key("data.seed", "integer", Value("0"), "≥ 0", "the generator's seed (apart from `train.seed`)"),
    key("data.cache", "string", Value("\"memory\""), "`\"memory\"`, `\"none\"`", "keep the generated images in memory, or generate each batch's when it is built"),
    key("data.workers", "integer", Value("2"), "0 to 256", "threads that build batches ahead of the step (0: in the training thread)"),
    key("data.prefetch", "integer", Value("4"), "1 to 1024", "batches built ahead and waiting at most"),
];

#[rustfmt::skip]
const FOLDER: &[Key] = &[
    key("data.root", "string", Unset("required"), "an existing folder", "the dataset's folder; relative to the folder lossbench runs in"),
    key("data.train", "string", Value("\"train\""), "", "the training split's name (`{split}`)"),
    key("data.val", "string", Value("\"val\""), "", "the validation split's name"),
    key("data.test", "string", Unset("no test split"), "", "the held-out test split's name"),
    key("data.images", "string", Value("\"images/{split}\""), "", "the image folder under `root`"),
    key("data.masks", "string", Value("\"masks/{split}\""), "", "the mask folder under `root`"),
    key("data.ignore_index", "integer", Unset("`dataset.json`'s, else none"), "≥ 0", "the mask value losses and metrics skip"),
    key("data.classes", "list of strings", Unset("`dataset.json`'s, else class_0, ..."), "", "class names"),
    key("data.palette", "list of [r, g, b]", Unset("`dataset.json`'s"), "", "each class's colour: decodes RGB masks, paints the report"),
    key("data.ignore_color", "[r, g, b]", Unset("none"), "needs `ignore_index`", "an RGB mask colour that means `ignore_index`"),
    key("data.class_map", "table", Unset("none"), "label → class number, name or `\"ignore\"`", "relabel or merge classes"),
    key("data.resize", "[height, width]", Unset("none"), "> 0", "bilinear for images, nearest for masks"),
    key("data.crop", "[height, width]", Unset("none"), "> 0", "then the centre crop"),
    key("data.normalize", "boolean", Value("true"), "", "standardise each channel by the training split's mean and std"),
    key("data.hflip", "boolean", Value("false"), "", "seeded left-right flips while training"),
    key("data.augment", "table", Unset("none"), "see docs/data.md, \"Augmentation\"", "random (resized) crops to `crop`, flips, rotations, colour jitter of training images"),
    key("data.limit", "integer", Unset("every image"), "≥ 1", "at most this many images per split"),
    key("data.cache", "string", Value("\"memory\""), "`\"memory\"`, `\"none\"`", "keep the decoded images in memory (compact), or read every batch from the files"),
    key("data.workers", "integer", Value("2"), "0 to 256", "threads that build batches ahead of the step (0: in the training thread)"),
    key("data.prefetch", "integer", Value("4"), "1 to 1024", "batches built ahead and waiting at most"),
    key("data.val_fraction", "float", Unset("none"), "(0, 1)", "validate on a seeded share of one folder"),
    key("data.test_fraction", "float", Unset("none"), "(0, 1)", "hold out a seeded share of the training folder as the test split"),
    key("data.folds", "integer", Unset("none"), "≥ 2", "cut one folder into this many seeded folds"),
    key("data.fold", "integer", Unset("none"), "0 to folds − 1; needs `folds`", "the fold that validates (as a grid axis: `fold`, or `fold = \"all\"`)"),
    key("data.split_seed", "integer", Unset("0"), "≥ 0", "the seed of the fractions and folds"),
    key("data.split_file", "string", Unset("none"), "a CSV file under `root`", "columns `file,split`: each file's split"),
    key("data.mask_name", "string", Unset("the image's stem"), "with `{stem}`", "a mask's file name, e.g. `\"{stem}_L.png\"`"),
    key("data.class_dict", "string", Unset("none"), "a CSV file under `root`", "columns `name,r,g,b`: class names and palette"),
];

#[rustfmt::skip]
const SWEEP: &[Key] = &[
    key("sweep.name", "string", Unset("the file's stem"), "letters, digits, `-`, `_`, `.`", "results go to `results/<name>`, the report to `plots/<name>`"),
    key("sweep.description", "string", Unset("none"), "", "one line, shown in the report"),
    key("sweep.results", "string", Value("\"results\""), "", "the root of the results folders"),
    key("sweep.plots", "string", Value("\"plots\""), "", "the root of the report folders"),
    key("sweep.max_runs", "integer", Value("1000000"), "≥ 1", "the most runs the grid may make (`--max-runs`)"),
    key("sweep.tensorboard", "string", Unset("none"), "a folder", "TensorBoard event files written as the runs train (`--tensorboard`)"),
    key("sweep.mlflow", "string", Unset("none"), "`http://` or `https://` address", "the MLflow tracking server the runs are sent to as they train (`--mlflow`)"),
];

#[rustfmt::skip]
const GRID: &[Key] = &[
    key("grid.<key>", "list", Unset("no axis"), "any run key, or `loss`, `seed`, `fold`, `dataset`", "an axis: the values the key takes; the first axis varies slowest"),
    key("datasets.<name>", "table", Unset("none"), "a whole `data` table", "a named dataset for the `dataset` axis"),
];

#[rustfmt::skip]
const REPORT: &[Key] = &[
    key("report.metric", "string", Unset("`val_miou`"), "`val_miou`, `val_dice`, `pixel_accuracy`, `val_ece`, `val_brier`, `val_nll`, `val_hd95`, `val_nsd`, `val_biou`", "the primary metric: it decides the verdict's headline"),
    key("report.equivalence", "float", Unset("none: never called equivalent"), "> 0, metric points", "two losses are equivalent when the 90% interval of their difference lies within ± this"),
    key("report.min_effect", "float", Unset("none"), "> 0, metric points", "also say how many seeds detect a difference this small"),
    key("report.boundary_tolerance", "float", Unset("2"), "[0, 1000] pixels", "passed to every run as `train.boundary_tolerance`"),
];

#[rustfmt::skip]
const TUNE: &[Key] = &[
    key("tune.space", "table", Unset("required"), "run key → a list, `{ log_uniform = [lo, hi] }` or `{ uniform = [lo, hi] }`", "the tuned keys and their values"),
    key("tune.sampler", "string", Value("\"grid\""), "`\"grid\"`, `\"random\"`", "every combination, or `trials` draws"),
    key("tune.trials", "integer", Unset("required with a range or `random`"), "1 to 10000", "values per range (grid) or draws (random)"),
    key("tune.scheduler", "string", Value("\"full\""), "`\"full\"`, `\"halving\"`", "every candidate for `train.epochs`, or successive halving"),
    key("tune.reduction", "integer", Value("3"), "≥ 2; halving", "each rung keeps the best 1/reduction"),
    key("tune.min_epochs", "integer", Value("1"), "≥ 1; halving", "the first rung's epochs"),
    key("tune.seeds", "list", Value("[1001, 1002, 1003]"), "distinct integers, none of the grid's seeds", "the tuning seeds"),
    key("tune.metric", "string", Value("\"val_miou\""), "`val_miou`, `val_loss`, `pixel_accuracy`, `binary_accuracy`", "what chooses the best candidate (val_loss: lowest)"),
    key("tune.untuned", "boolean", Value("false"), "", "also train the grid at `[base]`'s settings, to compare"),
    key("tune.seed", "integer", Value("0"), "≥ 0", "the random sampler's seed"),
];

/// Every key, by table.
#[rustfmt::skip]
pub const SECTIONS: &[Section] = &[
    Section { title: "Run: device and preset", intro: "In `[base]` (or a grid axis, or `--set`), at its top level.", keys: RUN },
    Section { title: "Run: `model`", intro: "The U-Net.", keys: MODEL },
    Section { title: "Run: `loss`", intro: "The loss and its parameters; a parameter of another loss is an error.", keys: LOSS },
    Section { title: "Run: `optim`", intro: "The optimizer and its schedule.", keys: OPTIM },
    Section { title: "Run: `train`", intro: "The training loop, selection and scoring.", keys: TRAIN },
    Section { title: "Run: `data`, synthetic", intro: "`data.kind = \"synthetic\"` (the default): built-in 7-class shapes, no files.", keys: SYNTHETIC },
    Section { title: "Run: `data`, folder", intro: "`data.kind = \"folder\"`: images and masks on disk (`data.kind` as above).", keys: FOLDER },
    Section { title: "`[sweep]`", intro: "The sweep's name and folders; `--set sweep.KEY=...`.", keys: SWEEP },
    Section { title: "`[grid]` and `[datasets]`", intro: "The axes, and named datasets for the `dataset` axis.", keys: GRID },
    Section { title: "`[report]`", intro: "How the verdict judges; `--set report.KEY=...`.", keys: REPORT },
    Section { title: "`[tune]`", intro: "Tuning each grid point before the comparison; `--set tune.KEY=...`.", keys: TUNE },
];

/// Every key of every section.
pub fn all() -> impl Iterator<Item = &'static Key> {
    SECTIONS.iter().flat_map(|s| s.keys.iter())
}

/// `docs/reference.md`: one table per section.
pub fn reference_markdown() -> String {
    let mut out = String::from(
        "<!-- Generated from src/config/keys.rs; do not edit. Rewrite it with\n     \
         LOSSBENCH_BLESS=1 cargo test --release --test docs -->\n\n\
         # Configuration reference\n\n\
         Every key a sweep file takes, with its type, default and range. Run keys go in\n\
         `[base]`, as a grid axis (`[grid]`), in a named dataset (`[datasets.<name>]`, without\n\
         `data.`) or on the command line (`--set 'key=value'`, see [sweeps.md](sweeps.md)).\n\
         A default in code font alone is the value itself (writing it changes nothing); one in\n\
         words says what happens while the key is unset. `preset = \"keras\"` changes the\n\
         defaults it names\n\
         ([parity.md](parity.md#the-same-numbers-as-your-keras-script)).\n",
    );
    for section in SECTIONS {
        out.push_str(&format!("\n## {}\n\n{}\n\n", section.title, section.intro));
        out.push_str("| key | type | default | range | meaning |\n|---|---|---|---|---|\n");
        for k in section.keys {
            let default = match k.default {
                Value(v) => format!("`{v}`"),
                Unset(text) => text.to_string(),
            };
            out.push_str(&format!(
                "| `{}` | {} | {} | {} | {} |\n",
                k.key, k.ty, default, k.range, k.meaning
            ));
        }
    }
    out
}
