//! Which code made this binary: the commit it was built from, and whether its sources
//! differed from that commit (read by the build script). Every run's status, the frames, the
//! exports and the report carry it, so a result can be traced to the code that trained it.

/// The commit this binary was built from: 40 hex digits, with `-dirty` when the files it is
/// made of (`src/`, `build.rs`, `Cargo.toml`, `Cargo.lock`) differed from it; `unknown`
/// when it was built outside a git repository without `LOSSBENCH_COMMIT`.
pub const COMMIT: &str = env!("LOSSBENCH_COMMIT");

/// The frames' column naming the commit of the build that trained each run.
pub const COLUMN: &str = "lossbench_commit";

/// What a status file written before commits were recorded says.
pub const UNKNOWN: &str = "unknown";

/// `commit` as people read it: its first 12 hex digits, and `-dirty` when it has it.
pub fn short(commit: &str) -> String {
    let (hash, rest) = commit.split_at(commit.find('-').unwrap_or(commit.len()));
    let is_hash = hash.len() > 12 && hash.bytes().all(|b| b.is_ascii_hexdigit());
    if is_hash {
        format!("{}{rest}", &hash[..12])
    } else {
        commit.to_string()
    }
}

/// The commit without `-dirty`: what a tool that expects a git hash (MLflow's
/// `mlflow.source.git.commit`) is given; `None` when the commit is not known.
pub fn hash(commit: &str) -> Option<&str> {
    let hash = commit.split('-').next()?;
    (hash.len() == 40 && hash.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_reads_as_twelve_digits_and_keeps_its_dirty_mark() {
        let full = "bdb82c2e0123456789abcdef0123456789abcdef";
        assert_eq!(short(full), "bdb82c2e0123");
        assert_eq!(short(&format!("{full}-dirty")), "bdb82c2e0123-dirty");
        assert_eq!(short(UNKNOWN), "unknown");
        assert_eq!(hash(&format!("{full}-dirty")), Some(full));
        assert_eq!(hash(UNKNOWN), None);
    }

    #[test]
    fn this_build_knows_its_commit() {
        // Built in a git clone (CI's is one), the build script found the commit.
        let clone = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".git");
        if !clone.exists() {
            println!("skipped: built outside a git clone; clone the repository to record commits");
            return;
        }
        assert!(
            hash(COMMIT).is_some(),
            "the build recorded no commit: {COMMIT}"
        );
    }
}
