//! The source tree's shape: every module on its floor, imports only downwards, no circle, no
//! source file over 800 lines, and each file's first line says its job.
//!
//! The floors are those of the README's "How it is built". A module may use its own
//! submodules, the modules of lower floors, its neighbours on the same floor (as long as no
//! circle forms) and the modules that serve every floor.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The crate's top-level modules by floor, lowest first.
const FLOORS: &[&[&str]] = &[
    &["data", "model", "losses", "metrics", "device"],
    &["config"],
    &["analyse", "plan"],
    &["store"],
    &["run", "slurm", "report", "export"],
    &["bench", "reference"],
    &["commands"],
    &["cli"],
];

/// Modules any floor may use: exit statuses, fault-injection points, the build's commit, test
/// helpers.
const EVERYWHERE: &[&str] = &["exit", "faults", "provenance", "testing"];

/// The longest a source file may be, tests beside the code included.
const MAX_LINES: usize = 800;

fn floor(module: &str) -> Option<usize> {
    FLOORS.iter().position(|f| f.contains(&module))
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read a source folder") {
            let path = entry.expect("a folder entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The top-level module a file of `src/` belongs to (`src/run/train.rs` → `run`).
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).expect("under src");
    let first = relative.components().next().expect("a component");
    let name = first.as_os_str().to_string_lossy();
    name.trim_end_matches(".rs").to_string()
}

/// The top-level modules a line of code names through `crate::`, including those inside
/// `crate::{a, b::c}` groups.
fn crate_references(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item = String::new();
            let mut items = Vec::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => items.push(std::mem::take(&mut item)),
                    _ => {}
                }
                if depth == 0 && c != ',' && c != '}' {
                    item.push(c);
                }
            }
            items.push(item);
            for item in items {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.push(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.push(name);
            }
        }
    }
    found
}

/// module → the other top-level modules its code names, with a file and line of each.
fn module_graph() -> BTreeMap<String, BTreeMap<String, String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for file in sources(&src) {
        let module = module_of(&src, &file);
        if module == "main" || module == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("read a source file");
        let uses = graph.entry(module.clone()).or_default();
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for used in crate_references(line) {
                if used != module {
                    uses.entry(used)
                        .or_insert_with(|| format!("{}:{}", file.display(), n + 1));
                }
            }
        }
    }
    graph
}

#[test]
fn every_module_has_a_floor() {
    let unplaced: Vec<String> = module_graph()
        .into_keys()
        .filter(|m| floor(m).is_none() && !EVERYWHERE.contains(&m.as_str()))
        .collect();
    assert!(
        unplaced.is_empty(),
        "modules without a floor in tests/layout.rs and the README's \"How it is built\": {unplaced:?}"
    );
}

#[test]
fn no_module_imports_from_a_higher_floor() {
    let mut upward = Vec::new();
    for (module, uses) in module_graph() {
        let Some(own) = floor(&module) else { continue };
        for (used, at) in uses {
            if EVERYWHERE.contains(&used.as_str()) {
                continue;
            }
            match floor(&used) {
                Some(f) if f <= own => {}
                _ => upward.push(format!("{at}: {module} uses {used}")),
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports that reach up:\n{}",
        upward.join("\n")
    );
}

#[test]
fn the_modules_form_no_circle() {
    let graph = module_graph();
    // Depth-first search for a back edge, over the modules in order.
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeMap<String, String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == m) {
            let mut circle = path[at..].to_vec();
            circle.push(m.to_string());
            return Some(circle);
        }
        if !done.insert(m.to_string()) {
            return None;
        }
        path.push(m.to_string());
        for used in graph.get(m).into_iter().flat_map(|u| u.keys()) {
            if let Some(circle) = visit(used, graph, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        if let Some(circle) = visit(m, &graph, &mut Vec::new(), &mut done) {
            panic!("the modules form a circle: {}", circle.join(" → "));
        }
    }
}

#[test]
fn no_source_file_is_over_800_lines_and_each_opens_with_its_job() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut problems = Vec::new();
    for dir in ["src", "tests", "bench"] {
        for file in sources(&root.join(dir)) {
            let text = std::fs::read_to_string(&file).expect("read a source file");
            let lines = text.lines().count();
            if lines > MAX_LINES {
                problems.push(format!("{}: {lines} lines", file.display()));
            }
            if !text.starts_with("//!") {
                problems.push(format!(
                    "{}: does not open with a //! line saying its job",
                    file.display()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn crate_references_reads_paths_and_groups() {
    assert_eq!(
        crate_references("use crate::store::write_atomic;"),
        ["store"]
    );
    assert_eq!(
        crate_references("use crate::{config::{A, B}, plan, run::train::X};"),
        ["config", "plan", "run"]
    );
    assert_eq!(
        crate_references("let x = crate::a::f(crate::b::g());"),
        ["a", "b"]
    );
    assert!(crate_references("no paths here").is_empty());
}
