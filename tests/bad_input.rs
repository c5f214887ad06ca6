//! Bad input, table-driven, through the binary: each case gives the exit status and the
//! message fragment a user sees. Exit statuses: 0 success, 1 the work ran but a run failed
//! or diverged, 2 the command could not start (bad arguments, configuration or data).

use std::path::{Path, PathBuf};
use std::process::Command;

use image::{GrayImage, Luma, Rgb, RgbImage};

const BIN: &str = env!("CARGO_BIN_EXE_lossbench");

/// A sweep file in `dir`: a tiny synthetic base with `extra` lines added to `[base]`, `grid`
/// as the grid, and `name` as the sweep's name.
fn sweep_file(dir: &Path, name: &str, extra: &str, grid: &str) -> PathBuf {
    let base = "data.height = 16\ndata.width = 16\ndata.train_images = 16\ndata.val_images = 8\n";
    let base = if extra.contains("data.kind") {
        ""
    } else {
        base
    };
    let batch = if extra.contains("train.batch_size") {
        ""
    } else {
        "train.batch_size = 8\n"
    };
    let text = format!(
        "[sweep]\nname = \"{name}\"\nresults = \"{r}\"\nplots = \"{p}\"\n\
         [base]\n{base}model.depth = 2\nmodel.base_channels = 4\ntrain.epochs = 1\n{batch}{extra}\n\
         [grid]\n{grid}\n",
        r = dir.join("results").display(),
        p = dir.join("plots").display(),
    );
    let path = dir.join("sweep.toml");
    std::fs::write(&path, text).expect("write sweep");
    path
}

/// A folder dataset of 16×16 images under `dir/data` (2 train, 1 val; labels 0..=2) with
/// `classes` in its dataset.json; returns the `[base]` lines that use it.
fn folder_data(dir: &Path, classes: &[&str]) -> String {
    let root = dir.join("data");
    for (split, stem) in [("train", "a"), ("train", "b"), ("val", "c")] {
        let (images, masks) = (
            root.join("images").join(split),
            root.join("masks").join(split),
        );
        std::fs::create_dir_all(&images).expect("mkdir");
        std::fs::create_dir_all(&masks).expect("mkdir");
        RgbImage::from_fn(16, 16, |x, y| Rgb([(x * 16) as u8, (y * 16) as u8, 99]))
            .save(images.join(format!("{stem}.png")))
            .expect("image");
        GrayImage::from_fn(16, 16, |x, _| Luma([(x / 6) as u8]))
            .save(masks.join(format!("{stem}.png")))
            .expect("mask");
    }
    let json = serde_json::json!({ "classes": classes });
    std::fs::write(root.join("dataset.json"), json.to_string()).expect("dataset.json");
    format!(
        "data.kind = \"folder\"\ndata.root = \"{}\"\ntrain.batch_size = 2",
        root.display()
    )
}

/// What a case does before it runs: writes its files into the folder, returns the arguments.
type Setup = Box<dyn Fn(&Path) -> Vec<String>>;

struct Case {
    name: &'static str,
    setup: Setup,
    status: i32,
    message: &'static str,
}

fn case(name: &'static str, status: i32, message: &'static str, setup: Setup) -> Case {
    Case {
        name,
        setup,
        status,
        message,
    }
}

/// `lossbench <command> sweep.toml <rest>` on a sweep with `extra` base lines and `grid`.
fn with_sweep(
    command: &'static str,
    extra: &'static str,
    grid: &'static str,
    rest: &'static [&'static str],
) -> Setup {
    Box::new(move |dir| {
        let path = sweep_file(dir, "bad", extra, grid);
        let mut args = vec![command.to_string(), path.display().to_string()];
        args.extend(rest.iter().map(|s| s.to_string()));
        args
    })
}

/// `lossbench run` on the folder dataset after `break_it` damages it.
fn with_data(classes: &'static [&'static str], extra: &'static str, break_it: fn(&Path)) -> Setup {
    Box::new(move |dir| {
        let data = folder_data(dir, classes);
        break_it(&dir.join("data"));
        let path = sweep_file(dir, "bad", &format!("{data}\n{extra}"), "seed = [1]");
        vec!["run".into(), path.display().to_string()]
    })
}

const THREE: &[&str] = &["a", "b", "c"];

fn cases() -> Vec<Case> {
    let mut cases = vec![
        case(
            "malformed TOML",
            2,
            "invalid TOML: missing comma between array elements",
            with_sweep("plan", "oops = [", "seed = [1]", &[]),
        ),
        case(
            "unknown key",
            2,
            "did you mean `train.epochs`?",
            with_sweep("plan", "train.epoch = 2", "seed = [1]", &[]),
        ),
        case(
            "wrong type",
            2,
            "`optim.lr`: invalid type: string \"fast\", expected f64",
            with_sweep("plan", "optim.lr = \"fast\"", "seed = [1]", &[]),
        ),
        case(
            "unknown loss",
            2,
            "unknown variant `nope`, expected one of `cce`, `bce`, `dice`",
            with_sweep("plan", "", "loss = [\"cce\", \"nope\"]", &[]),
        ),
        case(
            "unknown data kind",
            2,
            "unknown data kind `folders`; valid kinds are: synthetic, folder",
            with_sweep("plan", "data.kind = \"folders\"", "seed = [1]", &[]),
        ),
        case(
            "empty grid axis",
            2,
            "grid axis `loss` is empty",
            with_sweep("plan", "", "loss = []", &[]),
        ),
        case(
            "duplicated axis",
            2,
            "duplicated axis: `seed` and `train.seed` both set `train.seed`",
            with_sweep("plan", "", "seed = [1]\n\"train.seed\" = [2]", &[]),
        ),
        case(
            "epochs 0",
            2,
            "`train.epochs` must be at least 1, got 0",
            with_sweep("plan", "", "\"train.epochs\" = [0]", &[]),
        ),
        case(
            "negative lr",
            2,
            "`optim.lr` must be a positive number, got -0.1",
            with_sweep("plan", "", "\"optim.lr\" = [-0.1]", &[]),
        ),
        case(
            "seed that does not fit",
            2,
            "use a value of at most 9223372036854775807",
            with_sweep("plan", "", "seed = [18446744073709551615]", &[]),
        ),
        case(
            "images too large for the machine",
            2,
            "(grid axis `data.height` = 100000): data.height × data.width = 100000 × 100000 needs at least ",
            with_sweep(
                "plan",
                "",
                "\"data.height\" = [100000]\n\"data.width\" = [100000]",
                &[],
            ),
        ),
        case(
            "a U-Net too wide for the machine",
            2,
            "model.base_channels = 100000000 at model.depth = 2 needs at least ",
            with_sweep("plan", "", "\"model.base_channels\" = [100000000]", &[]),
        ),
        case(
            "a grid over the cap",
            2,
            "the grid makes 1,001,000 runs: seed (1000) × train.epochs (1001), more than the cap of 1,000,000 runs",
            Box::new(|dir| {
                let list = |n: usize| {
                    let items: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
                    format!("[{}]", items.join(", "))
                };
                let grid = format!("seed = {}\n\"train.epochs\" = {}", list(1000), list(1001));
                let path = sweep_file(dir, "bad", "", &grid);
                vec!["run".into(), path.display().to_string()]
            }),
        ),
        case(
            "batch larger than the dataset",
            1,
            "train.batch_size is 64 but the training split has only 16 images",
            with_sweep("run", "", "\"train.batch_size\" = [64]", &[]),
        ),
        case(
            "--set without =",
            2,
            "--set `train.epochs`: has no `=`",
            with_sweep("plan", "", "seed = [1]", &["--set", "train.epochs"]),
        ),
        case(
            "--only naming no axis",
            2,
            "`loss` is not an axis of this sweep; its axes are: seed",
            with_sweep("plan", "", "seed = [1]", &["--only", "loss=cce"]),
        ),
        case(
            "--jobs 0",
            2,
            "invalid value '0' for '--jobs <JOBS>': must be at least 1",
            with_sweep("run", "", "seed = [1]", &["--jobs", "0"]),
        ),
        case(
            "--device that is not one",
            2,
            "`tpu` is not a device; use cpu, cuda, cuda:N or auto",
            with_sweep("run", "", "seed = [1]", &["--device", "tpu"]),
        ),
        case(
            "--shard out of range",
            2,
            "shards of 2 are numbered 0 to 1",
            with_sweep("run", "", "seed = [1]", &["--shard", "3/2"]),
        ),
        case(
            "diverging loss",
            1,
            "diverged: loss became NaN or infinite at epoch 1",
            with_sweep(
                "run",
                "optim.name = \"sgd\"\noptim.lr = 1e20",
                "seed = [1]",
                &[],
            ),
        ),
        case(
            "missing data root",
            2,
            "`/nonexistent/camvid` does not exist",
            with_sweep(
                "run",
                "data.kind = \"folder\"\ndata.root = \"/nonexistent/camvid\"",
                "seed = [1]",
                &[],
            ),
        ),
        case(
            "image without mask",
            2,
            "images/train/b.png has no mask",
            with_data(THREE, "", |r| {
                std::fs::remove_file(r.join("masks/train/b.png")).expect("rm")
            }),
        ),
        case(
            "mask without image",
            2,
            "masks/val/c.png has no image",
            with_data(THREE, "", |r| {
                RgbImage::new(16, 16)
                    .save(r.join("images/val/d.png"))
                    .expect("image");
                std::fs::remove_file(r.join("images/val/c.png")).expect("rm")
            }),
        ),
        case(
            "mask value out of range",
            2,
            "label 9 at row 0, column 0 is not a class (0..=2, 3 classes)",
            with_data(THREE, "", |r| {
                GrayImage::from_pixel(16, 16, Luma([9]))
                    .save(r.join("masks/train/a.png"))
                    .expect("mask")
            }),
        ),
        case(
            "size mismatch",
            2,
            "size mismatch: mask",
            with_data(THREE, "", |r| {
                GrayImage::new(16, 8)
                    .save(r.join("masks/train/a.png"))
                    .expect("mask")
            }),
        ),
        case(
            "zero-byte PNG",
            2,
            "images/train/a.png is empty (0 bytes)",
            with_data(THREE, "", |r| {
                std::fs::write(r.join("images/train/a.png"), b"").expect("write")
            }),
        ),
        case(
            "JPEG named .png",
            2,
            "masks/train/a.png is a JPEG file: masks must be lossless PNG",
            with_data(THREE, "", |r| {
                let jpeg = r.join("mask.jpg");
                GrayImage::new(16, 16).save(&jpeg).expect("jpeg");
                std::fs::rename(&jpeg, r.join("masks/train/a.png")).expect("mv")
            }),
        ),
        case(
            "RGB colour not in the palette",
            2,
            "colour (1, 2, 3) at row 0, column 0 is not in the palette",
            with_data(
                THREE,
                "data.palette = [[0, 0, 0], [9, 9, 9], [7, 7, 7]]",
                |r| {
                    RgbImage::from_pixel(16, 16, Rgb([1, 2, 3]))
                        .save(r.join("masks/train/a.png"))
                        .expect("mask")
                },
            ),
        ),
        case(
            "class_map to a class that does not exist",
            2,
            "`0` maps to class 7, which does not exist",
            with_data(
                THREE,
                "data.classes = [\"x\", \"y\"]\ndata.class_map = { \"0\" = 7 }",
                |_| {},
            ),
        ),
        case(
            "rerun of a folder that is not a run",
            2,
            "is not a run folder (it has no status.json)",
            Box::new(|dir| vec!["rerun".into(), dir.display().to_string()]),
        ),
        case(
            "report of a sweep with no finished run",
            2,
            "has no finished run, so there is nothing to report",
            Box::new(|dir| {
                let path = sweep_file(dir, "bad", "", "\"train.batch_size\" = [64]");
                let out = Command::new(BIN)
                    .arg("run")
                    .arg(&path)
                    .output()
                    .expect("runs");
                assert_eq!(out.status.code(), Some(1));
                vec![
                    "report".into(),
                    dir.join("results/bad").display().to_string(),
                ]
            }),
        ),
        case(
            "sweep name with ../",
            2,
            "sweep name `../evil` is not a plain folder name",
            Box::new(|dir| {
                vec![
                    "run".into(),
                    sweep_file(dir, "../evil", "", "seed = [1]")
                        .display()
                        .to_string(),
                ]
            }),
        ),
        case(
            "sweep name with /",
            2,
            "sweep name `a/b` is not a plain folder name",
            Box::new(|dir| {
                vec![
                    "run".into(),
                    sweep_file(dir, "a/b", "", "seed = [1]")
                        .display()
                        .to_string(),
                ]
            }),
        ),
        case(
            "a class name holding <script>",
            0,
            "1 runs: 1 done",
            with_data(&["<script>alert(1)</script>", "b", "c"], "", |_| {}),
        ),
    ];
    if tch::Cuda::device_count() == 0 {
        cases.push(case(
            "--device cuda without a GPU",
            2,
            "libtorch sees no CUDA device on this machine",
            with_sweep("run", "", "seed = [1]", &["--device", "cuda"]),
        ));
    }
    cases
}

#[test]
fn every_bad_input_gives_its_message_and_exit_status() {
    let cases = cases();
    assert!(cases.len() >= 25, "{} cases", cases.len());
    let mut failures = Vec::new();
    for case in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let args = (case.setup)(dir.path());
        let out = Command::new(BIN)
            .args(&args)
            .current_dir(dir.path())
            .output()
            .expect("lossbench runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if out.status.code() != Some(case.status) || !text.contains(case.message) {
            failures.push(format!(
                "{}: expected exit {} and `{}`, got exit {:?}:\n{text}",
                case.name,
                case.status,
                case.message,
                out.status.code()
            ));
        }
        let panicked = text.contains("panicked") || text.contains("RUST_BACKTRACE");
        if panicked {
            failures.push(format!("{}: panicked:\n{text}", case.name));
        }
        if case.name.starts_with("sweep name") {
            // Refused before anything is written, inside or outside the results folder.
            let written: Vec<_> = std::fs::read_dir(dir.path())
                .expect("list")
                .flatten()
                .map(|e| e.file_name())
                .filter(|n| n != "sweep.toml")
                .collect();
            if !written.is_empty() {
                failures.push(format!("{}: wrote {written:?}", case.name));
            }
        }
        if case.name.contains("<script>") {
            let page = std::fs::read_to_string(dir.path().join("plots/bad/index.html"))
                .unwrap_or_default();
            if page.contains("<script>alert") || !page.contains("&lt;script&gt;alert") {
                failures.push(format!(
                    "{}: the class name is not escaped in the report",
                    case.name
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
