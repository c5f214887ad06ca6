//! Slurm: writes the two sbatch scripts that run a sweep on a cluster, and submits them.
//!
//! `array.sbatch` is a job array of one task per shard of the sweep's runs (by default one
//! run per task); task `I` of `N` calls `lossbench run SWEEP --shard I/N --jobs 1`, which
//! trains the runs at positions `I`, `I + N`, `I + 2N`, ... of the selection and writes only
//! their run folders. `collect.sbatch`, submitted with `--dependency=afterany:<array>`,
//! calls `lossbench collect SWEEP`, which rebuilds the sweep's frame from the run folders
//! and writes the report. A task that failed or that Slurm requeued simply runs again: the
//! runs it finished are skipped, the others go on from their last checkpoint. The array
//! asks for `--requeue`, and a task that Slurm's warning signal interrupts (a minute before
//! its time limit) requeues itself.
//!
//! A tuned sweep's stages follow each other, so it is submitted one stage at a time: the
//! array trains the next stage (`run --stage S --shard I/N`), and the job after it runs
//! `lossbench slurm --submit --after-stage S`, which collects stage S and submits the next
//! stage's array and its own follower, until the last stage's follower writes the report.
//!
//! Both scripts call the lossbench binary and the sweep file by absolute path and `cd` to
//! the folder `lossbench slurm` ran in, so relative results paths mean the same in the jobs.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

use crate::store::write_atomic;

/// The file names of the two scripts.
const ARRAY: &str = "array.sbatch";
const COLLECT: &str = "collect.sbatch";

/// What the jobs ask Slurm for.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Resources {
    /// Slurm partition of both jobs (default: the cluster's default partition).
    #[arg(long, value_parser = parse_partition)]
    pub partition: Option<String>,
    /// Time limit of each array task and of the collect job: HH:MM:SS, MM, D-HH:MM:SS, ...
    #[arg(long, value_name = "HH:MM:SS", value_parser = parse_time)]
    pub time: Option<String>,
    /// GPUs of each array task (`#SBATCH --gpus-per-task`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub gpus_per_task: Option<u32>,
    /// CPUs of each array task; its runs use that many libtorch threads.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub cpus_per_task: u32,
    /// Array tasks running at once (`--array=0-N%K`); default: as many as Slurm allows.
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_parallel: Option<u32>,
    /// Array tasks: the runs are dealt out to N shards; default: one task per run.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub shards: Option<u32>,
    /// Another `#SBATCH` option for both jobs, e.g. --sbatch=--account=proj --sbatch=--mem=8G.
    #[arg(long = "sbatch", value_name = "OPTION", allow_hyphen_values = true, value_parser = parse_sbatch_option)]
    pub sbatch: Vec<String>,
}

/// What the jobs run: the binary, the sweep and the arguments that select its runs.
#[derive(Debug, Clone)]
pub struct Job {
    /// The lossbench binary, absolute.
    pub exe: PathBuf,
    /// The sweep file, absolute.
    pub sweep: PathBuf,
    /// The folder the jobs `cd` to: where `lossbench slurm` ran.
    pub workdir: PathBuf,
    /// `--set` arguments, passed on as they are.
    pub overrides: Vec<String>,
    /// `--only`, passed on as it is.
    pub only: Option<String>,
    pub resources: Resources,
    /// A tuned sweep's stage (`rung-0`, ..., `final`, `untuned`): the array trains it
    /// (`run --stage`), and the job after the array collects it and submits the next stage
    /// (`slurm --submit --after-stage`) instead of collecting the sweep.
    pub stage: Option<String>,
}

impl Resources {
    /// The command-line options that ask for these resources again (for the job that
    /// submits a tuned sweep's next stage).
    pub fn args(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(p) = &self.partition {
            out.push(format!("--partition={p}"));
        }
        if let Some(t) = &self.time {
            out.push(format!("--time={t}"));
        }
        if let Some(g) = self.gpus_per_task {
            out.push(format!("--gpus-per-task={g}"));
        }
        out.push(format!("--cpus-per-task={}", self.cpus_per_task));
        if let Some(k) = self.max_parallel {
            out.push(format!("--max-parallel={k}"));
        }
        if let Some(n) = self.shards {
            out.push(format!("--shards={n}"));
        }
        for o in &self.sbatch {
            out.push(format!("--sbatch={o}"));
        }
        out
    }
}

/// The two scripts of a sweep and the folder they go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scripts {
    /// `results/<sweep>/slurm`, absolute.
    pub dir: PathBuf,
    /// Array tasks.
    pub tasks: usize,
    pub array: String,
    pub collect: String,
}

impl Scripts {
    /// `array.sbatch`.
    pub fn array_path(&self) -> PathBuf {
        self.dir.join(ARRAY)
    }

    /// `collect.sbatch`.
    pub fn collect_path(&self) -> PathBuf {
        self.dir.join(COLLECT)
    }

    /// Where the jobs' output goes.
    pub fn logs_dir(&self) -> PathBuf {
        self.dir.join("logs")
    }

    /// Writes both scripts and creates the logs folder (Slurm does not create it).
    pub fn write(&self) -> anyhow::Result<()> {
        let logs = self.logs_dir();
        std::fs::create_dir_all(&logs)
            .with_context(|| format!("cannot create {}", logs.display()))?;
        write_atomic(&self.array_path(), self.array.as_bytes())?;
        write_atomic(&self.collect_path(), self.collect.as_bytes())
    }

    /// The commands that submit both scripts by hand.
    pub fn by_hand(&self) -> String {
        by_hand(&self.dir)
    }
}

/// The scripts for `runs` selected runs of the sweep `name`, written for the folder `dir`
/// (`results/<name>/slurm`, absolute).
pub fn scripts(name: &str, runs: usize, dir: &Path, job: &Job) -> anyhow::Result<Scripts> {
    if runs == 0 {
        bail!("sweep {name} selects no runs: there is nothing to submit");
    }
    for (what, path) in [
        ("the lossbench binary", &job.exe),
        ("the sweep file", &job.sweep),
        ("the working folder", &job.workdir),
        ("the scripts' folder", &dir.to_path_buf()),
    ] {
        if !path.is_absolute() {
            bail!(
                "{what} must be given by absolute path, not {}",
                path.display()
            );
        }
    }
    let logs = dir.join("logs");
    let logs_text = logs
        .to_str()
        .with_context(|| format!("the logs folder {} is not UTF-8", logs.display()))?;
    if let Some(c) = logs_text
        .chars()
        .find(|c| c.is_whitespace() || matches!(c, '%' | '"' | '\'' | '\\'))
    {
        bail!(
            "the logs folder {logs_text} contains {c:?}, which an #SBATCH --output line cannot \
             hold; use a results folder without it (sweep.results in the sweep file, or \
             --set sweep.results=DIR)"
        );
    }
    let r = &job.resources;
    let tasks = r.shards.map_or(runs, |s| (s as usize).min(runs));
    let sweep = path_text(&job.sweep)?;
    let exe = path_text(&job.exe)?;
    let cd = format!("cd {}\n", sh_quote(path_text(&job.workdir)?));
    let mut selection = String::new();
    for o in &job.overrides {
        selection.push_str(&format!(" --set {}", sh_quote(o)));
    }
    if let Some(only) = &job.only {
        selection.push_str(&format!(" --only {}", sh_quote(only)));
    }
    let stage = job
        .stage
        .as_ref()
        .map(|s| format!(" --stage {}", sh_quote(s)))
        .unwrap_or_default();
    let common = |lines: &mut String| {
        lines.push_str("#SBATCH --ntasks=1\n");
        lines.push_str(&format!("#SBATCH --cpus-per-task={}\n", r.cpus_per_task));
        if let Some(p) = &r.partition {
            lines.push_str(&format!("#SBATCH --partition={p}\n"));
        }
        if let Some(t) = &r.time {
            lines.push_str(&format!("#SBATCH --time={t}\n"));
        }
        for o in &r.sbatch {
            lines.push_str(&format!("#SBATCH {o}\n"));
        }
    };
    let per_task = if tasks == runs {
        format!(
            "one array task per run.\n\
             # Task I trains run I (`lossbench run --shard I/{tasks}`), writing only its run folder."
        )
    } else {
        format!(
            "{tasks} array tasks of up to {} runs each.\n\
             # Task I trains the runs at positions I, I+{tasks}, I+{}, ... (`lossbench run --shard I/{tasks}`),\n\
             # writing only their run folders.",
            runs.div_ceil(tasks),
            2 * tasks
        )
    };

    let mut array = format!(
        "#!/bin/bash\n\
         # lossbench sweep `{name}` on Slurm: {runs} runs, {per_task}\n\
         # A task that fails or is requeued runs again on resume: finished runs are skipped.\n\
         # Written by `lossbench slurm`; submit it and collect.sbatch with `lossbench slurm --submit`,\n\
         # or by hand:\n\
         #   {}\n\
         #SBATCH --job-name=lossbench-{name}\n",
        by_hand(dir)
    );
    let limit = r.max_parallel.map(|k| format!("%{k}")).unwrap_or_default();
    array.push_str(&format!("#SBATCH --array=0-{}{limit}\n", tasks - 1));
    common(&mut array);
    if let Some(g) = r.gpus_per_task {
        array.push_str(&format!("#SBATCH --gpus-per-task={g}\n"));
    }
    array.push_str(&format!(
        "#SBATCH --output={logs_text}/run-%A_%a.out\n\
         #SBATCH --open-mode=append\n\
         # Preempted or requeued, a task runs again and its runs go on from their last\n\
         # checkpoint.\n\
         #SBATCH --requeue\n\
         # Ctrl-C (SIGINT) a minute before the time limit: the runs in progress stop at their\n\
         # last checkpoint and the task requeues itself to go on from there.\n\
         #SBATCH --signal=B:INT@60\n\
         set -u\n\
         {cd}\
         {} run {}{selection}{stage} --shard \"$SLURM_ARRAY_TASK_ID/{tasks}\" --jobs 1 &\n\
         pid=$!\n\
         trap 'kill -INT \"$pid\" 2>/dev/null' INT TERM\n\
         # wait returns when a trapped signal arrives: wait again until lossbench has exited.\n\
         status=0\n\
         wait \"$pid\" || status=$?\n\
         while kill -0 \"$pid\" 2>/dev/null; do status=0; wait \"$pid\" || status=$?; done\n\
         if [ \"$status\" -eq {interrupted} ]; then\n\
         \x20 echo \"lossbench: interrupted; requeueing task $SLURM_ARRAY_TASK_ID to go on from its checkpoints\"\n\
         \x20 scontrol requeue \"$SLURM_JOB_ID\"\n\
         fi\n\
         exit \"$status\"\n",
        sh_quote(exe),
        sh_quote(sweep),
        interrupted = crate::exit::INTERRUPTED,
    ));

    let mut collect = match &job.stage {
        None => format!(
            "#!/bin/bash\n\
             # lossbench sweep `{name}` on Slurm: after the array job (--dependency=afterany:<array>),\n\
             # rebuilds the sweep's frame from the run folders and writes its report. Exit status 1\n\
             # when a run is not done; submitting both scripts again runs only the runs not done.\n\
             #SBATCH --job-name=lossbench-{name}-collect\n"
        ),
        Some(s) => format!(
            "#!/bin/bash\n\
             # lossbench tuned sweep `{name}` on Slurm, stage {s}: after its array job\n\
             # (--dependency=afterany:<array>), collects the stage and submits the next one (its\n\
             # array and a job like this one), or, after the last stage, writes the report. Exit\n\
             # status 1 when a run of the stage is not done; `lossbench slurm --submit` submits it again.\n\
             #SBATCH --job-name=lossbench-{name}-{s}-next\n"
        ),
    };
    common(&mut collect);
    let then = match &job.stage {
        None => format!("collect {}{selection}", sh_quote(sweep)),
        Some(s) => {
            let resources: Vec<String> = r.args().iter().map(|a| sh_quote(a)).collect();
            format!(
                "slurm {}{selection} --submit --after-stage {} {}",
                sh_quote(sweep),
                sh_quote(s),
                resources.join(" ")
            )
        }
    };
    collect.push_str(&format!(
        "#SBATCH --output={logs_text}/collect-%j.out\n\
         set -eu\n\
         {cd}\
         exec {} {then}\n",
        sh_quote(exe),
    ));
    Ok(Scripts {
        dir: dir.to_path_buf(),
        tasks,
        array,
        collect,
    })
}

/// The commands that submit the scripts in `dir` by hand.
fn by_hand(dir: &Path) -> String {
    format!(
        "array=$(sbatch --parsable {}) && sbatch --dependency=afterany:${{array%%;*}} {}",
        sh_quote(&dir.join(ARRAY).to_string_lossy()),
        sh_quote(&dir.join(COLLECT).to_string_lossy())
    )
}

/// The job ids `sbatch` gave the two jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    pub array: String,
    pub collect: String,
}

/// Submits the written scripts: the array, then the collect job after it.
pub fn submit(scripts: &Scripts) -> anyhow::Result<Submitted> {
    submit_with(OsStr::new("sbatch"), scripts)
}

fn submit_with(sbatch: &OsStr, scripts: &Scripts) -> anyhow::Result<Submitted> {
    let array_path = scripts.array_path();
    let array = run_sbatch(sbatch, &[OsStr::new("--parsable"), array_path.as_os_str()])?;
    let collect_path = scripts.collect_path();
    let dependency = dependency(&array);
    let collect = run_sbatch(
        sbatch,
        &[
            OsStr::new("--parsable"),
            OsStr::new(&dependency),
            collect_path.as_os_str(),
        ],
    )
    .with_context(|| {
        format!(
            "the array job {array} is queued but its collect job is not: submit it by hand with \
             `sbatch {dependency} {}`, or cancel the array with `scancel {array}`",
            collect_path.display()
        )
    })?;
    Ok(Submitted { array, collect })
}

/// The `sbatch` option that starts the collect job once every task of `array` has ended,
/// however it ended.
fn dependency(array: &str) -> String {
    format!("--dependency=afterany:{array}")
}

/// Runs `sbatch ARGS` and returns the job id it prints.
fn run_sbatch(sbatch: &OsStr, args: &[&OsStr]) -> anyhow::Result<String> {
    let shown = || {
        let mut words = vec![sbatch.to_string_lossy().into_owned()];
        words.extend(args.iter().map(|a| a.to_string_lossy().into_owned()));
        words.join(" ")
    };
    let out = match Command::new(sbatch).args(args).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "`{}` not found: --submit needs Slurm's sbatch on PATH (run on the cluster's login \
             node, or leave out --submit and submit the written scripts there)",
            sbatch.to_string_lossy()
        ),
        Err(e) => return Err(e).with_context(|| format!("cannot run `{}`", shown())),
    };
    if !out.status.success() {
        bail!(
            "`{}` failed ({}): {}",
            shown(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    parse_job_id(&stdout).with_context(|| format!("`{}` printed no job id", shown()))
}

/// The job id of `sbatch --parsable` output: `ID` or `ID;CLUSTER`.
fn parse_job_id(stdout: &str) -> anyhow::Result<String> {
    let first = stdout.lines().next().unwrap_or("").trim();
    let id = first.split(';').next().unwrap_or("");
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        bail!("expected a job id, got `{first}`");
    }
    Ok(id.to_string())
}

/// `path` as the scripts' UTF-8 text.
fn path_text(path: &Path) -> anyhow::Result<&str> {
    path.to_str().with_context(|| {
        format!(
            "{} is not UTF-8; a job script cannot name it",
            path.display()
        )
    })
}

/// `text` as one sh word: bare when it is plain, else in single quotes.
pub fn sh_quote(text: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=:,+@%^".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// `--time`: a Slurm time limit (`MM`, `MM:SS`, `HH:MM:SS`, `D-HH`, `D-HH:MM`,
/// `D-HH:MM:SS`, or `UNLIMITED`).
fn parse_time(text: &str) -> Result<String, String> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let ok = match text.split_once('-') {
        _ if text.eq_ignore_ascii_case("unlimited") || text.eq_ignore_ascii_case("infinite") => {
            true
        }
        Some((days, rest)) => {
            let parts: Vec<&str> = rest.split(':').collect();
            digits(days) && parts.len() <= 3 && parts.iter().all(|p| digits(p))
        }
        None => {
            let parts: Vec<&str> = text.split(':').collect();
            parts.len() <= 3 && parts.iter().all(|p| digits(p))
        }
    };
    if ok {
        Ok(text.to_string())
    } else {
        Err(format!(
            "`{text}` is not a Slurm time limit; write HH:MM:SS (e.g. 02:00:00), minutes (90) or D-HH:MM:SS"
        ))
    }
}

/// `--partition`: one word.
fn parse_partition(text: &str) -> Result<String, String> {
    if text.is_empty() || text.chars().any(|c| c.is_whitespace() || c == '#') {
        Err(format!("`{text}` is not a partition name"))
    } else {
        Ok(text.to_string())
    }
}

/// `--sbatch`: one option of sbatch, on one line.
fn parse_sbatch_option(text: &str) -> Result<String, String> {
    if !text.starts_with('-') || text.contains(['\n', '\r']) {
        Err(format!(
            "`{text}` is not an sbatch option; write it as it follows #SBATCH, e.g. --sbatch=--mem=8G"
        ))
    } else {
        Ok(text.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(resources: Resources) -> Job {
        Job {
            exe: PathBuf::from("/opt/lossbench/bin/lossbench"),
            sweep: PathBuf::from("/home/me/exp/bce question.toml"),
            workdir: PathBuf::from("/home/me"),
            overrides: vec!["train.epochs=3".to_string()],
            only: None,
            resources,
            stage: None,
        }
    }

    fn scripts_of(runs: usize, resources: Resources) -> Scripts {
        scripts(
            "sq",
            runs,
            Path::new("/home/me/results/sq/slurm"),
            &job(resources),
        )
        .expect("scripts")
    }

    fn lines(text: &str, prefix: &str) -> Vec<String> {
        text.lines()
            .filter(|l| l.starts_with(prefix))
            .map(String::from)
            .collect()
    }

    #[test]
    fn four_runs_make_an_array_of_four_tasks_each_running_one_shard() {
        let s = scripts_of(4, Resources::default());
        assert_eq!(s.tasks, 4);
        assert_eq!(lines(&s.array, "#SBATCH --array"), ["#SBATCH --array=0-3"]);
        assert!(
            s.array.contains(
                "\n/opt/lossbench/bin/lossbench run '/home/me/exp/bce question.toml' \
                 --set train.epochs=3 --shard \"$SLURM_ARRAY_TASK_ID/4\" --jobs 1 &\n"
            ),
            "{}",
            s.array
        );
        // Preemption: requeued tasks go on; interrupted ones (exit 130) requeue themselves.
        assert_eq!(lines(&s.array, "#SBATCH --requeue"), ["#SBATCH --requeue"]);
        assert!(
            s.array.contains("if [ \"$status\" -eq 130 ]; then\n")
                && s.array.contains("  scontrol requeue \"$SLURM_JOB_ID\"\n")
                && s.array.ends_with("exit \"$status\"\n"),
            "{}",
            s.array
        );
        assert!(s.array.contains("\ncd /home/me\n"), "{}", s.array);
        assert!(s
            .array
            .contains("#SBATCH --output=/home/me/results/sq/slurm/logs/run-%A_%a.out\n"));
        assert!(s.array.starts_with("#!/bin/bash\n"));
    }

    #[test]
    fn max_parallel_limits_the_array_with_percent() {
        let s = scripts_of(
            25,
            Resources {
                max_parallel: Some(4),
                ..Default::default()
            },
        );
        assert_eq!(
            lines(&s.array, "#SBATCH --array"),
            ["#SBATCH --array=0-24%4"]
        );
    }

    #[test]
    fn shards_deal_the_runs_to_fewer_tasks_and_never_more_tasks_than_runs() {
        let s = scripts_of(
            10,
            Resources {
                shards: Some(3),
                ..Default::default()
            },
        );
        assert_eq!(lines(&s.array, "#SBATCH --array"), ["#SBATCH --array=0-2"]);
        assert!(s.array.contains("--shard \"$SLURM_ARRAY_TASK_ID/3\""));
        let few = scripts_of(
            2,
            Resources {
                shards: Some(8),
                ..Default::default()
            },
        );
        assert_eq!(few.tasks, 2);
        assert!(few.array.contains("--shard \"$SLURM_ARRAY_TASK_ID/2\""));
    }

    #[test]
    fn resources_become_sbatch_lines_and_gpus_only_on_the_array() {
        let s = scripts_of(
            4,
            Resources {
                partition: Some("gpu".to_string()),
                time: Some("02:00:00".to_string()),
                gpus_per_task: Some(1),
                cpus_per_task: 4,
                sbatch: vec!["--account=proj".to_string()],
                ..Default::default()
            },
        );
        for line in [
            "#SBATCH --partition=gpu",
            "#SBATCH --time=02:00:00",
            "#SBATCH --cpus-per-task=4",
            "#SBATCH --account=proj",
        ] {
            assert!(s.array.lines().any(|l| l == line), "array lacks {line}");
            assert!(s.collect.lines().any(|l| l == line), "collect lacks {line}");
        }
        assert!(s.array.lines().any(|l| l == "#SBATCH --gpus-per-task=1"));
        assert!(!s.collect.contains("gpus"));
        assert!(!scripts_of(4, Resources::default()).array.contains("gpus"));
    }

    #[test]
    fn collect_runs_after_the_array_with_the_same_selection() {
        let mut j = job(Resources::default());
        j.only = Some("loss=bce".to_string());
        let s = scripts("sq", 4, Path::new("/r/sq/slurm"), &j).expect("scripts");
        assert!(
            s.collect.ends_with(
                "exec /opt/lossbench/bin/lossbench collect '/home/me/exp/bce question.toml' \
                 --set train.epochs=3 --only loss=bce\n"
            ),
            "{}",
            s.collect
        );
        assert!(s.array.contains("--only loss=bce --shard"));
        assert!(s
            .collect
            .contains("#SBATCH --output=/r/sq/slurm/logs/collect-%j.out\n"));
        assert_eq!(dependency("4242"), "--dependency=afterany:4242");
        assert!(s.array.contains(
            "array=$(sbatch --parsable /r/sq/slurm/array.sbatch) && \
             sbatch --dependency=afterany:${array%%;*} /r/sq/slurm/collect.sbatch"
        ));
    }

    #[test]
    fn sbatch_directives_come_before_the_first_command() {
        for text in [
            &scripts_of(4, Resources::default()).array,
            &scripts_of(4, Resources::default()).collect,
        ] {
            let first_command = text
                .lines()
                .position(|l| !l.starts_with('#'))
                .expect("a command");
            let lines: Vec<&str> = text.lines().collect();
            let last_directive = lines
                .iter()
                .rposition(|l| l.starts_with("#SBATCH"))
                .expect("a directive");
            assert!(last_directive < first_command, "{text}");
        }
    }

    #[test]
    fn quoted_arguments_reach_the_command_unchanged_through_sh() {
        let words = [
            "grid.seed=[1, 2]",
            "sweep.description=it's \"quoted\" $HOME `x` \\",
            "",
            "plain=1",
        ];
        let line: Vec<String> = words.iter().map(|w| sh_quote(w)).collect();
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("printf '%s\\n' {}", line.join(" ")))
            .output()
            .expect("sh runs");
        let printed = String::from_utf8_lossy(&out.stdout);
        assert_eq!(printed.lines().collect::<Vec<_>>(), words);
        assert_eq!(sh_quote("plain=1"), "plain=1");
    }

    #[test]
    fn a_logs_folder_with_a_space_is_refused_with_the_fix() {
        let err = scripts(
            "sq",
            4,
            Path::new("/my results/sq/slurm"),
            &job(Resources::default()),
        )
        .expect_err("a space");
        assert!(format!("{err}").contains("sweep.results"), "{err}");
    }

    #[test]
    fn relative_paths_and_empty_selections_are_refused() {
        let mut j = job(Resources::default());
        j.exe = PathBuf::from("lossbench");
        let err = scripts("sq", 4, Path::new("/r"), &j).expect_err("relative");
        assert!(format!("{err}").contains("absolute"), "{err}");
        let err =
            scripts("sq", 0, Path::new("/r"), &job(Resources::default())).expect_err("no runs");
        assert!(format!("{err}").contains("no runs"), "{err}");
    }

    #[test]
    fn job_ids_are_read_from_parsable_output() {
        assert_eq!(parse_job_id("4242\n").expect("id"), "4242");
        assert_eq!(parse_job_id("17;cluster\n").expect("id"), "17");
        assert!(parse_job_id("").is_err());
        assert!(parse_job_id("Submitted batch job 12\n").is_err());
    }

    #[test]
    fn missing_or_failing_sbatch_is_an_error_that_says_so() {
        let s = scripts_of(4, Resources::default());
        let err = submit_with(OsStr::new("lossbench-no-such-sbatch"), &s).expect_err("missing");
        assert!(format!("{err:#}").contains("not found"), "{err:#}");
        let err = submit_with(OsStr::new("false"), &s).expect_err("fails");
        assert!(
            format!("{err:#}").contains("failed (exit status: 1)"),
            "{err:#}"
        );
    }

    #[test]
    fn time_limits_take_slurm_forms_only() {
        for ok in [
            "02:00:00",
            "90",
            "1:30",
            "1-00",
            "2-12:00",
            "1-02:03:04",
            "UNLIMITED",
        ] {
            assert_eq!(parse_time(ok).as_deref(), Ok(ok));
        }
        for bad in ["", "1h", "1:2:3:4", "a-01:00", "01::00", "-5"] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
        assert!(parse_partition("gpu").is_ok() && parse_partition("a b").is_err());
        assert!(parse_sbatch_option("--mem=8G").is_ok());
        assert!(parse_sbatch_option("mem=8G").is_err());
    }
}
