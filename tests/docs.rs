//! The documentation kept true: every TOML block of README.md and docs/*.md loads (a whole
//! sweep is planned, a fragment is merged into a small sweep and planned, a run
//! configuration is resolved), every `lossbench ...` line of a `sh` or `console` block parses
//! with lossbench's own argument parser and writes `--set` by the one quoting rule, every
//! relative link (and its `#anchor`) resolves, the user text names no issue numbers or
//! build history, and docs/reference.md is what src/config/keys.rs generates, whose keys are
//! the parser's and whose defaults the code's. `LOSSBENCH_BLESS=1` rewrites the reference.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use lossbench::config::keys::{self, KeyDefault};
use lossbench::config::sweep::Sweep;
use lossbench::config::{valid_keys, RunConfig};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// README.md and every docs/*.md, by path from the repository's root.
fn doc_files() -> Vec<PathBuf> {
    let mut files = vec![PathBuf::from("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(Path::new(ROOT).join("docs"))
        .expect("docs/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .filter_map(|p| p.strip_prefix(ROOT).ok().map(Path::to_path_buf))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(path))
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// A fenced code block: its language, its text and the line of its opening fence.
struct Block {
    lang: String,
    body: String,
    line: usize,
}

/// The fenced code blocks of a markdown text.
fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in text.lines().enumerate() {
        let fence = line.trim_start().strip_prefix("```");
        match (&mut open, fence) {
            (None, Some(info)) => {
                open = Some(Block {
                    lang: info.trim().to_string(),
                    body: String::new(),
                    line: i + 1,
                })
            }
            (Some(_), Some(_)) => out.extend(open.take()),
            (Some(block), None) => {
                block.body.push_str(line);
                block.body.push('\n');
            }
            (None, None) => {}
        }
    }
    out
}

/// The text outside fenced blocks and inline code.
fn prose(text: &str) -> String {
    let mut out = String::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            let mut inline = false;
            for part in line.split('`') {
                if !inline {
                    out.push_str(part);
                }
                inline = !inline;
            }
            out.push('\n');
        }
    }
    out
}

/// Merges `over` into `base`, table by table; `over`'s values win.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Points every folder dataset's `root` of a sweep table at `dir`, which exists.
fn existing_roots(sweep: &mut toml::Table, dir: &Path) {
    let root = toml::Value::String(dir.display().to_string());
    let set_root = |data: &mut toml::Value| {
        if let Some(t) = data.as_table_mut().filter(|t| t.contains_key("root")) {
            t.insert("root".into(), root.clone());
        }
    };
    if let Some(data) = sweep
        .get_mut("base")
        .and_then(|b| b.as_table_mut())
        .and_then(|b| b.get_mut("data"))
    {
        set_root(data);
    }
    if let Some(datasets) = sweep.get_mut("datasets").and_then(|d| d.as_table_mut()) {
        datasets.iter_mut().for_each(|(_, data)| set_root(data));
    }
}

const SWEEP_TABLES: [&str; 6] = ["sweep", "base", "grid", "datasets", "report", "tune"];

/// Loads one TOML block as a sweep (merged into a one-run sweep) and plans it, or as a run
/// configuration; the error says why not.
fn check_toml(body: &str, dir: &Path) -> Result<usize, String> {
    let block: toml::Table = toml::from_str(body).map_err(|e| format!("invalid TOML: {e}"))?;
    if !block.keys().any(|k| SWEEP_TABLES.contains(&k.as_str())) {
        let path = dir.join("run.toml");
        std::fs::write(&path, body).map_err(|e| e.to_string())?;
        return RunConfig::from_file(&path, &[])
            .map(|_| 1)
            .map_err(|e| e.to_string());
    }
    let mut sweep: toml::Table =
        toml::from_str("[sweep]\nname = \"docs\"\n[base]\ntrain.epochs = 1\n[grid]\nloss = [\"cce\"]\nseed = [1]\n")
            .map_err(|e| e.to_string())?;
    merge(&mut sweep, block);
    existing_roots(&mut sweep, dir);
    let path = dir.join("sweep.toml");
    let text = toml::to_string(&sweep).map_err(|e| e.to_string())?;
    std::fs::write(&path, text).map_err(|e| e.to_string())?;
    let sweep = Sweep::load(&path, &[]).map_err(|e| e.to_string())?;
    let plan = lossbench::plan::expand(sweep).map_err(|e| e.to_string())?;
    for run in plan.runs() {
        run.config()
            .map_err(|e| format!("run {}: {e}", run.label()))?;
    }
    Ok(plan.len())
}

#[test]
fn every_toml_block_loads_and_plans() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut failures = Vec::new();
    let mut checked = 0;
    for file in doc_files() {
        for block in blocks(&read(&file))
            .into_iter()
            .filter(|b| b.lang == "toml")
        {
            checked += 1;
            if let Err(e) = check_toml(&block.body, dir.path()) {
                failures.push(format!("{}:{}: {e}", file.display(), block.line));
            }
        }
    }
    assert!(checked >= 10, "only {checked} TOML blocks found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// One shell word: its text after quote removal, and whether it was written in single
/// quotes from its first character.
struct Word {
    text: String,
    single_quoted: bool,
}

/// Splits the first command of a shell line into words as sh would (quotes, backslashes),
/// stopping at a comment, a redirection, a pipe or a list operator.
fn shell_words(line: &str) -> Vec<Word> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.peek() {
            None | Some('#' | '|' | '>' | '<' | ';' | '&') => return words,
            _ => {}
        }
        let mut word = Word {
            text: String::new(),
            single_quoted: chars.peek() == Some(&'\''),
        };
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() || matches!(c, '|' | '>' | '<' | ';' | '&') {
                break;
            }
            chars.next();
            match c {
                '\'' => word.text.extend(chars.by_ref().take_while(|&c| c != '\'')),
                '"' => {
                    while let Some(c) = chars.next() {
                        match c {
                            '"' => break,
                            '\\' => word.text.extend(chars.next()),
                            c => word.text.push(c),
                        }
                    }
                }
                '\\' => word.text.extend(chars.next()),
                c => word.text.push(c),
            }
        }
        words.push(word);
    }
}

/// The `lossbench ...` command lines of the `sh` and `console` blocks of a markdown text,
/// continuation lines joined, each with its line number.
fn command_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for block in blocks(text)
        .into_iter()
        .filter(|b| b.lang == "sh" || b.lang == "console")
    {
        let mut pending: Option<(usize, String)> = None;
        for (i, line) in block.body.lines().enumerate() {
            let line = line.strip_prefix("$ ").unwrap_or(line);
            let (start, mut joined) = pending
                .take()
                .unwrap_or((block.line + 1 + i, String::new()));
            match line.strip_suffix('\\') {
                Some(head) => {
                    joined.push_str(head);
                    pending = Some((start, joined));
                }
                None => {
                    joined.push_str(line);
                    if joined.trim_start().starts_with("lossbench ") {
                        out.push((start, joined.trim().to_string()));
                    }
                }
            }
        }
    }
    out
}

/// Checks one command line: the quoting rule of `--set`, the arguments through the binary's
/// own parser (`lossbench::cli::check_args`, required arguments included), and, when it
/// names a sweep file of the repository, the sweep with its overrides.
fn check_command(words: &[Word]) -> Result<(), String> {
    let args: Vec<&str> = words.iter().skip(1).map(|w| w.text.as_str()).collect();
    let mut overrides = Vec::new();
    for (i, w) in words.iter().enumerate().skip(1) {
        if words[i - 1].text == "--set" {
            if !w.single_quoted {
                return Err(format!(
                    "`--set {}` breaks the quoting rule: write --set '{}'",
                    w.text, w.text
                ));
            }
            overrides.push(w.text.clone());
        }
    }
    lossbench::cli::check_args(&args).map_err(|e| e.trim().to_string())?;
    let base_keys = valid_keys(None);
    for o in &overrides {
        let key = o.split_once('=').map_or(o.as_str(), |(k, _)| k);
        let key = key.strip_prefix("base.").unwrap_or(key);
        let sweep_level = ["sweep.", "grid.", "report.", "tune."]
            .iter()
            .any(|p| key.starts_with(p));
        let known = base_keys
            .iter()
            .any(|k| key == k || key.starts_with(&format!("{k}.")));
        if !sweep_level && !known {
            return Err(format!("`--set {o}`: `{key}` is no key of a run"));
        }
    }
    let file = args
        .iter()
        .find(|a| a.ends_with(".toml") && Path::new(ROOT).join(a).is_file());
    let takes_sweep = matches!(args.first(), Some(&("run" | "plan" | "collect" | "slurm")));
    if let (Some(file), true) = (file, takes_sweep) {
        Sweep::load(&Path::new(ROOT).join(file), &overrides).map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[test]
fn every_lossbench_command_line_parses_and_follows_the_quoting_rule() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for file in doc_files() {
        for (line, command) in command_lines(&read(&file)) {
            checked += 1;
            if let Err(e) = check_command(&shell_words(&command)) {
                failures.push(format!("{}:{line}: {command}\n  {e}", file.display()));
            }
        }
    }
    assert!(checked >= 20, "only {checked} command lines found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_shell_splitter_reads_quotes_as_sh_does() {
    let words = shell_words(r#"lossbench run a.toml --set 'x="y z"' --set "g=[1, 2]" b\ c # note"#);
    let texts: Vec<&str> = words.iter().map(|w| w.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "lossbench",
            "run",
            "a.toml",
            "--set",
            "x=\"y z\"",
            "--set",
            "g=[1, 2]",
            "b c"
        ]
    );
    assert!(words[4].single_quoted && !words[6].single_quoted);
    assert_eq!(shell_words("lossbench plan s.toml > out.txt").len(), 3);
}

/// GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a markdown file's headings (outside code blocks).
fn anchors(text: &str) -> BTreeSet<String> {
    let mut fenced = false;
    let mut out = BTreeSet::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            out.insert(slug(line.trim_start_matches('#')));
        }
    }
    out
}

/// The targets of the markdown links and images of a text's prose.
fn link_targets(text: &str) -> Vec<String> {
    let prose = prose(text);
    prose
        .split("](")
        .skip(1)
        .filter_map(|rest| rest.split_once(')').map(|(target, _)| target.to_string()))
        .collect()
}

#[test]
fn every_relative_link_and_anchor_resolves() {
    let mut files = doc_files();
    files.push(PathBuf::from("BENCHMARKS.md"));
    let mut failures = Vec::new();
    for file in files {
        let text = read(&file);
        for target in link_targets(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (path, anchor) = target.split_once('#').unwrap_or((target.as_str(), ""));
            let resolved = if path.is_empty() {
                file.clone()
            } else {
                file.parent().unwrap_or(Path::new("")).join(path)
            };
            if !Path::new(ROOT).join(&resolved).exists() {
                failures.push(format!("{}: `{target}`: no such file", file.display()));
            } else if !anchor.is_empty() && !anchors(&read(&resolved)).contains(anchor) {
                failures.push(format!("{}: `{target}`: no such heading", file.display()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn user_text_names_the_tool_not_its_history() {
    let mut files = doc_files();
    let experiments = std::fs::read_dir(Path::new(ROOT).join("experiments")).expect("experiments/");
    let mut tomls: Vec<PathBuf> = experiments
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .filter_map(|p| p.strip_prefix(ROOT).ok().map(Path::to_path_buf))
        .collect();
    tomls.sort();
    files.extend(tomls);
    let banned = [
        "issue ",
        "issue's",
        "this session",
        "previous session",
        "later build",
        "the seed's",
        "seed question",
    ];
    let mut failures = Vec::new();
    for file in files {
        for (i, line) in read(&file).lines().enumerate() {
            let lower = line.to_lowercase();
            let numbered = lower
                .match_indices('#')
                .any(|(at, _)| lower[at + 1..].starts_with(|c: char| c.is_ascii_digit()));
            if let Some(word) = banned.iter().find(|w| lower.contains(*w)) {
                failures.push(format!("{}:{}: `{word}`: {line}", file.display(), i + 1));
            } else if numbered {
                failures.push(format!(
                    "{}:{}: an issue number: {line}",
                    file.display(),
                    i + 1
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_reference_is_generated_from_the_key_table() {
    let generated = keys::reference_markdown();
    let path = Path::new(ROOT).join("docs/reference.md");
    if std::env::var_os("LOSSBENCH_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write docs/reference.md");
    }
    let written = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        written == generated,
        "docs/reference.md is not what src/config/keys.rs generates; rewrite it with \
         LOSSBENCH_BLESS=1 cargo test --release --test docs"
    );
}

const SWEEP_PREFIXES: [&str; 5] = ["sweep.", "grid.", "datasets.", "report.", "tune."];

#[test]
fn the_key_table_holds_the_parsers_keys_and_the_codes_defaults() {
    let table: BTreeSet<String> = keys::all()
        .map(|k| k.key.to_string())
        .filter(|k| !SWEEP_PREFIXES.iter().any(|p| k.starts_with(p)))
        .collect();
    let parser: BTreeSet<String> = valid_keys(None).into_iter().collect();
    let missing: Vec<_> = parser.difference(&table).collect();
    let unknown: Vec<_> = table.difference(&parser).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "src/config/keys.rs lacks {missing:?} and lists keys the parser does not take: {unknown:?}"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let folder = |extra: &[String]| {
        let mut sets = vec![
            "data.kind=\"folder\"".to_string(),
            format!(
                "data.root={}",
                toml::Value::String(dir.path().display().to_string())
            ),
        ];
        sets.extend_from_slice(extra);
        RunConfig::from_overrides(&sets).map_err(|e| e.to_string())
    };
    let folder_keys: BTreeSet<&str> = keys::SECTIONS
        .iter()
        .filter(|s| s.title.contains("folder"))
        .flat_map(|s| s.keys.iter().map(|k| k.key))
        .collect();
    for k in keys::all().filter(|k| table.contains(k.key)) {
        let KeyDefault::Value(value) = k.default else {
            continue;
        };
        let set = [format!("{}={value}", k.key)];
        let (with, without) = if folder_keys.contains(k.key) {
            (folder(&set), folder(&[]))
        } else {
            (
                RunConfig::from_overrides(&set).map_err(|e| e.to_string()),
                Ok(RunConfig::default()),
            )
        };
        assert_eq!(with, without, "`{}`'s default is not {value}", k.key);
    }
}

/// A sweep's settings outside its run keys, to compare two loads of it.
fn sweep_settings(sweep: &Sweep) -> String {
    format!(
        "{:?}",
        (
            &sweep.name,
            &sweep.description,
            &sweep.results,
            &sweep.plots,
            sweep.max_runs,
            &sweep.report,
            &sweep.tune,
            &sweep.axes,
            &sweep.base
        )
    )
}

#[test]
fn the_sweep_tables_keys_are_read_and_their_defaults_are_the_codes() {
    // Values for the keys that have no default, to show that the sweep file takes them.
    let examples: HashMap<&str, &str> = [
        ("sweep.name", "\"x\""),
        ("sweep.description", "\"d\""),
        ("sweep.tensorboard", "\"runs/tb\""),
        ("sweep.mlflow", "\"http://127.0.0.1:5000\""),
        ("report.metric", "\"val_dice\""),
        ("report.equivalence", "1.0"),
        ("report.min_effect", "2.0"),
        ("report.boundary_tolerance", "3"),
        ("tune.space", "{ \"optim.lr\" = [1e-2, 1e-1] }"),
        ("tune.trials", "4"),
    ]
    .into();
    let dir = tempfile::tempdir().expect("tempdir");
    let load = |text: &str, sets: &[String]| {
        let path = dir.path().join("s.toml");
        std::fs::write(&path, text).expect("write");
        Sweep::load(&path, sets).map_err(|e| e.to_string())
    };
    let plain =
        "[sweep]\nname = \"s\"\n[grid]\nseed = [1]\n[tune]\nspace.\"optim.lr\" = [1e-3, 1e-2]\n";
    for k in keys::all()
        .filter(|k| SWEEP_PREFIXES.iter().any(|p| k.key.starts_with(p)) && !k.key.contains('<'))
    {
        let halving = ["tune.reduction", "tune.min_epochs"].contains(&k.key);
        let text = if halving {
            format!("{plain}scheduler = \"halving\"\n")
        } else {
            plain.to_string()
        };
        let value = match k.default {
            KeyDefault::Value(v) => v,
            KeyDefault::Unset(_) => examples
                .get(k.key)
                .copied()
                .unwrap_or_else(|| panic!("give `{}` an example value here", k.key)),
        };
        let with = load(&text, &[format!("{}={value}", k.key)]);
        assert!(with.is_ok(), "`{}={value}`: {:?}", k.key, with.err());
        if let (KeyDefault::Value(_), Ok(with)) = (k.default, with) {
            let without = load(&text, &[]).expect("the plain sweep loads");
            assert_eq!(
                sweep_settings(&with),
                sweep_settings(&without),
                "`{}`'s default is not {value}",
                k.key
            );
        }
    }
}
