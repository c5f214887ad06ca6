//! `lossbench export mlflow`: a sweep's results folder as MLflow runs on a tracking server,
//! one per run folder under one parent run per sweep that holds the report; exporting
//! again adds only what is new.
//!
//! A run is found again by its tags `lossbench.sweep` and `lossbench.run_id`: an MLflow run
//! that already holds every epoch and the status is left alone; one that holds fewer
//! epochs (the sweep went on since) gets the epochs it lacks and its new status; one that
//! holds more epochs than the folder is left alone and named. The parent run (tags
//! `lossbench.sweep` and `lossbench.parent = true`) gets the report's files again on every
//! export, under `report/`.

pub mod client;
pub mod convert;
pub mod live;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use crate::store;
use client::{Client, Run};
use convert::{tag, RunRecord, PARENT_RUN_TAG, PARENT_TAG, RUN_ID_TAG, RUN_NAME_TAG, SWEEP_TAG};

/// What the export did with one run folder.
#[derive(Debug, PartialEq)]
pub enum Action {
    /// A new MLflow run with this many metric values.
    Created { metrics: usize },
    /// An MLflow run held part of it: this many metric values were added, and the status
    /// set again.
    Updated { metrics: usize },
    /// The MLflow run already held all of it.
    Unchanged,
    /// The MLflow run holds more than the folder (why); left as it is.
    Differs(String),
}

/// One run folder's export.
#[derive(Debug)]
pub struct Exported {
    pub id: String,
    pub label: String,
    /// MLflow's status it has now.
    pub status: &'static str,
    pub action: Action,
}

/// What `export` did.
#[derive(Debug)]
pub struct Summary {
    pub experiment: String,
    pub experiment_id: String,
    pub parent_run_id: String,
    /// Whether the parent run was made by this export.
    pub parent_created: bool,
    pub runs: Vec<Exported>,
    /// The report's files uploaded to the parent run (paths under its artifacts), or why
    /// they could not be.
    pub report: Result<Vec<String>, String>,
    /// Lines to say: params cut to MLflow's limit, folders skipped, runs found twice.
    pub notes: Vec<String>,
    /// Whether a run folder could not be read.
    pub skipped: bool,
}

/// A sweep's place on a tracking server: its experiment, its parent run and the MLflow
/// runs that already hold its run folders, found by their tags.
pub struct Session {
    client: Client,
    sweep: String,
    pub experiment: String,
    pub experiment_id: String,
    pub parent: Run,
    /// Whether the parent run was made by this session.
    pub parent_created: bool,
    /// lossbench run id → the MLflow run that holds it.
    existing: BTreeMap<String, Run>,
    /// Runs found twice, several parents.
    pub notes: Vec<String>,
}

impl Session {
    /// The sweep `(name, description)` through `client`, in the experiment `experiment`
    /// (default: the sweep's name), with its parent run made when there is none; it starts
    /// at `start` (milliseconds since the Unix epoch).
    pub fn open(
        client: Client,
        (name, description): (&str, Option<&str>),
        experiment: Option<&str>,
        start: Option<i64>,
    ) -> anyhow::Result<Session> {
        if name.contains('\'') {
            bail!(
                "the sweep name `{name}` holds a `'`, which MLflow's run search cannot match; rename the sweep (sweep.name)"
            );
        }
        let experiment = experiment.unwrap_or(name).to_string();
        let experiment_id = client.experiment_id(&experiment)?;
        let filter = format!("tags.`{SWEEP_TAG}` = '{name}'");
        let mut notes = Vec::new();
        let (parents, existing) =
            by_run_id(client.search_runs(&experiment_id, &filter)?, &mut notes);
        let (parent, parent_created) = match parents.into_iter().next() {
            Some(run) => (run, false),
            None => {
                let mut tags = vec![
                    tag(SWEEP_TAG, name),
                    tag(PARENT_TAG, "true"),
                    tag(RUN_NAME_TAG, name),
                ];
                if let Some(description) = description {
                    tags.push(tag(convert::NOTE_TAG, description));
                }
                let start = start.unwrap_or_else(now_ms);
                let info = client.create_run(&experiment_id, name, start, &tags)?;
                let run = Run {
                    info,
                    data: Default::default(),
                };
                (run, true)
            }
        };
        Ok(Session {
            client,
            sweep: name.to_string(),
            experiment,
            experiment_id,
            parent,
            parent_created,
            existing,
            notes,
        })
    }

    /// Brings the MLflow run of `record` up to it: creates it under the parent, or adds
    /// what it lacks; MLflow's status it has now, and what was done.
    pub fn sync(&mut self, record: &RunRecord) -> anyhow::Result<(&'static str, Action)> {
        let status = convert::status(record.state);
        let end_time = (status != "RUNNING").then_some(record.end_time);
        let action = match self.existing.get(record.id.as_str()) {
            None => {
                let mut tags = vec![
                    tag(SWEEP_TAG, &self.sweep),
                    tag(RUN_ID_TAG, &record.id),
                    tag(RUN_NAME_TAG, &record.label),
                    tag(PARENT_RUN_TAG, &self.parent.info.run_id),
                ];
                tags.extend(record.state_tags.iter().cloned());
                let client = &self.client;
                let info = client.create_run(
                    &self.experiment_id,
                    &record.label,
                    record.start_time,
                    &tags,
                )?;
                client.log_batch(&info.run_id, &record.metrics, &record.params, &[])?;
                client.update_run(&info.run_id, status, end_time)?;
                let mut run = Run {
                    info,
                    data: Default::default(),
                };
                run.data.tags = tags;
                self.existing.insert(record.id.clone(), run);
                Action::Created {
                    metrics: record.metrics.len(),
                }
            }
            Some(run) => update(&self.client, run, record, status, end_time)?,
        };
        // What the server holds now, for the next sync.
        if let Some(run) = self.existing.get_mut(record.id.as_str()) {
            remember(run, record, status);
        }
        Ok((status, action))
    }

    /// Uploads the report in `plots` to the parent run and marks it finished at `end`.
    pub fn finish(
        &self,
        plots: &Path,
        end: Option<i64>,
    ) -> anyhow::Result<Result<Vec<String>, String>> {
        let report = upload_report(&self.client, &self.parent, plots);
        self.finish_parent(end)?;
        Ok(report)
    }

    /// Marks the parent run finished at `end` (now when `None`).
    pub fn finish_parent(&self, end: Option<i64>) -> anyhow::Result<()> {
        self.client.update_run(
            &self.parent.info.run_id,
            "FINISHED",
            end.or_else(|| Some(now_ms())),
        )
    }
}

/// `run` as it is once `record` was synced into it: its metrics, params, tags and status.
fn remember(run: &mut Run, record: &RunRecord, status: &str) {
    run.data.metrics = record.metrics.clone();
    for p in &record.params {
        if !run.data.params.iter().any(|q| q.key == p.key) {
            run.data.params.push(p.clone());
        }
    }
    for t in &record.state_tags {
        run.data.tags.retain(|q| q.key != t.key);
        run.data.tags.push(t.clone());
    }
    run.info.status = status.to_string();
}

/// The run folders of `results` as the export sends them, in label order; notes on those
/// skipped, and whether one could not be read.
fn records_of(results: &Path) -> anyhow::Result<(Vec<RunRecord>, Vec<String>, bool)> {
    let mut notes = Vec::new();
    let mut skipped = false;
    let mut records = Vec::new();
    for dir in store::run_dirs(results)? {
        match RunRecord::read(&dir) {
            Ok(Some(record)) => records.push(record),
            Ok(None) => notes.push(format!(
                "skipped {}: no status.json (the run never started)",
                dir.display()
            )),
            Err(e) => {
                skipped = true;
                notes.push(format!(
                    "skipped {}: {e:#}; `lossbench verify {}` lists damaged files",
                    dir.display(),
                    results.display()
                ));
            }
        }
    }
    records.sort_by(|a, b| (&a.label, &a.id).cmp(&(&b.label, &b.id)));
    Ok((records, notes, skipped))
}

/// Exports the sweep in `results` (a `results/<sweep>` folder) to the tracking server at
/// `tracking_uri`, into the experiment `experiment` (default: the sweep's name).
pub fn export(
    results: &Path,
    tracking_uri: &str,
    experiment: Option<&str>,
) -> anyhow::Result<Summary> {
    let info = store::read_sweep_info(results)?;
    let (records, mut notes, skipped) = records_of(results)?;
    let start = records.iter().map(|r| r.start_time).min();
    let end = records.iter().map(|r| r.end_time).max();
    let sweep = (info.name.as_str(), info.description.as_deref());
    let mut session = Session::open(Client::new(tracking_uri)?, sweep, experiment, start)?;
    notes.append(&mut session.notes);
    let mut runs = Vec::with_capacity(records.len());
    for record in &records {
        for key in &record.cut {
            notes.push(format!(
                "{}: param {key} is longer than MLflow's {} characters and was cut; the whole value is in its config.toml",
                record.label,
                convert::PARAM_LIMIT
            ));
        }
        let (status, action) = session.sync(record)?;
        runs.push(Exported {
            id: record.id.clone(),
            label: record.label.clone(),
            status,
            action,
        });
    }
    let report = session.finish(&info.plots_dir, end)?;
    Ok(Summary {
        experiment: session.experiment,
        experiment_id: session.experiment_id,
        parent_run_id: session.parent.info.run_id,
        parent_created: session.parent_created,
        runs,
        report,
        notes,
        skipped,
    })
}

/// Brings the MLflow run `run` up to `record`: the metric values past each key's last
/// step, the params it lacks, the state tags and the status.
fn update(
    client: &Client,
    run: &Run,
    record: &RunRecord,
    status: &'static str,
    end_time: Option<i64>,
) -> anyhow::Result<Action> {
    let last: HashMap<&str, i64> = run
        .data
        .metrics
        .iter()
        .map(|m| (m.key.as_str(), m.step))
        .collect();
    let held = last.values().copied().max().unwrap_or(0);
    if held > record.last_epoch {
        return Ok(Action::Differs(format!(
            "MLflow run {} holds {held} epochs, the run folder {}; left as it is (delete the MLflow run and export again to replace it)",
            run.info.run_id, record.last_epoch
        )));
    }
    let metrics: Vec<_> = record
        .metrics
        .iter()
        .filter(|m| last.get(m.key.as_str()).is_none_or(|&l| m.step > l))
        .cloned()
        .collect();
    let params: Vec<_> = record
        .params
        .iter()
        .filter(|p| !run.data.params.iter().any(|q| q.key == p.key))
        .cloned()
        .collect();
    let tags_differ = record
        .state_tags
        .iter()
        .any(|t| run.tag(&t.key) != Some(t.value.as_str()));
    if metrics.is_empty() && params.is_empty() && !tags_differ && run.info.status == status {
        return Ok(Action::Unchanged);
    }
    client.log_batch(&run.info.run_id, &metrics, &params, &record.state_tags)?;
    client.update_run(&run.info.run_id, status, end_time)?;
    Ok(Action::Updated {
        metrics: metrics.len(),
    })
}

/// The sweep's runs found on the server: the parent runs, and the others by lossbench run
/// id (the first of each id; a second one is noted).
fn by_run_id(runs: Vec<Run>, notes: &mut Vec<String>) -> (Vec<Run>, BTreeMap<String, Run>) {
    let mut parents = Vec::new();
    let mut by_id = BTreeMap::new();
    for run in runs {
        if run.tag(PARENT_TAG) == Some("true") {
            parents.push(run);
        } else if let Some(id) = run.tag(RUN_ID_TAG).map(str::to_string) {
            if let Some(first) = by_id.get(&id) {
                let first: &Run = first;
                notes.push(format!(
                    "MLflow runs {} and {} both hold lossbench run {id}; the export updates the first",
                    first.info.run_id, run.info.run_id
                ));
            } else {
                by_id.insert(id, run);
            }
        }
    }
    if parents.len() > 1 {
        notes.push(format!(
            "{} parent runs hold this sweep; the export updates {}",
            parents.len(),
            parents[0].info.run_id
        ));
    }
    (parents, by_id)
}

/// Uploads every file of the report folder `plots` (`index.html`, `findings.json`, the
/// figures) as `report/<path>` artifacts of `parent`: the paths uploaded, or why not.
fn upload_report(client: &Client, parent: &Run, plots: &Path) -> Result<Vec<String>, String> {
    if !plots.join("index.html").exists() {
        return Err(format!(
            "no report at {}; write it (`lossbench report results/<sweep>`) and export again",
            plots.join("index.html").display()
        ));
    }
    let upload = || -> anyhow::Result<Vec<String>> {
        let mut uploaded = Vec::new();
        for file in files_under(plots)? {
            let relative = file.strip_prefix(plots).unwrap_or(&file);
            let path = format!("report/{}", relative.to_string_lossy().replace('\\', "/"));
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            client.upload_artifact(&parent.info.artifact_uri, &path, &bytes)?;
            uploaded.push(path);
        }
        Ok(uploaded)
    };
    upload().map_err(|e| format!("{e:#}"))
}

/// Every file under `dir`, in path order.
fn files_under(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in
            std::fs::read_dir(&d).with_context(|| format!("cannot read {}", d.display()))?
        {
            let path = entry
                .with_context(|| format!("cannot read {}", d.display()))?
                .path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Now, in milliseconds since the Unix epoch.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
