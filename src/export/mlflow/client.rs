//! The MLflow tracking server's REST API (`/api/2.0/mlflow/...`) over blocking HTTP: the
//! calls the export makes, each error naming the server, the call and the fix.
//!
//! The HTTP client is `ureq` 3 (blocking, a few small dependencies, rustls for `https://`
//! servers); bodies are JSON through serde. Artifacts go through the server's proxy,
//! `PUT /api/2.0/mlflow-artifacts/artifacts/<path>`, which `mlflow server` serves unless it
//! runs with `--no-serve-artifacts`.

use std::time::Duration;

use anyhow::{bail, Context};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// `runs/log-batch` takes at most this many metrics, params and tags in one call...
const MAX_METRICS_PER_BATCH: usize = 1000;
const MAX_PARAMS_PER_BATCH: usize = 100;
const MAX_TAGS_PER_BATCH: usize = 100;
/// ...and at most this many of them together.
const MAX_ENTITIES_PER_BATCH: usize = 1000;
/// Runs per page of `runs/search`.
const SEARCH_PAGE: usize = 500;
/// The largest answer read (a page of runs with their latest metrics, params and tags).
const MAX_ANSWER_BYTES: u64 = 256 << 20;
/// The scheme of artifact locations the server proxies.
const PROXIED: &str = "mlflow-artifacts:";

/// A run as `runs/search` returns it.
#[derive(Clone, Debug, Deserialize)]
pub struct Run {
    pub info: RunInfo,
    #[serde(default)]
    pub data: RunData,
}

#[derive(Clone, Debug, Deserialize)]
pub struct RunInfo {
    pub run_id: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub artifact_uri: String,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct RunData {
    /// The latest value of each metric (its highest step).
    #[serde(default)]
    pub metrics: Vec<Metric>,
    #[serde(default)]
    pub params: Vec<Tag>,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

impl Run {
    /// The value of tag `key`.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.data
            .tags
            .iter()
            .find(|t| t.key == key)
            .map(|t| t.value.as_str())
    }
}

/// One value of a metric. Not-a-number goes as the string `"NaN"` and infinities as
/// `"Infinity"`, `"-Infinity"` (protobuf's JSON form, which the server parses; it stores
/// infinities as ±f64::MAX).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    pub key: String,
    #[serde(serialize_with = "finite_or_named")]
    #[serde(deserialize_with = "number_or_named")]
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
    pub step: i64,
}

fn finite_or_named<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    match *v {
        v if v.is_nan() => s.serialize_str("NaN"),
        f64::INFINITY => s.serialize_str("Infinity"),
        f64::NEG_INFINITY => s.serialize_str("-Infinity"),
        v => s.serialize_f64(v),
    }
}

fn number_or_named<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    match Value::deserialize(d)? {
        Value::Number(n) => n
            .as_f64()
            .ok_or_else(|| serde::de::Error::custom("a metric value out of range")),
        Value::String(s) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            other => Err(serde::de::Error::custom(format!(
                "`{other}` is not a metric value"
            ))),
        },
        other => Err(serde::de::Error::custom(format!(
            "`{other}` is not a metric value"
        ))),
    }
}

/// A param or a tag: a key and a string value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// A connection to one tracking server.
pub struct Client {
    /// The tracking URI without a trailing `/`.
    uri: String,
    agent: ureq::Agent,
}

impl Client {
    /// A client of the server at `uri` (`http://host:port` or `https://...`); nothing is
    /// sent yet.
    pub fn new(uri: &str) -> anyhow::Result<Client> {
        Client::with_timeout(uri, Duration::from_secs(300))
    }

    /// [`Client::new`] whose every request gives up after `timeout`.
    pub fn with_timeout(uri: &str, timeout: Duration) -> anyhow::Result<Client> {
        let uri = uri.trim_end_matches('/').to_string();
        if !(uri.starts_with("http://") || uri.starts_with("https://")) {
            bail!(
                "the tracking URI `{uri}` is not an HTTP address; pass the server's, e.g. --tracking-uri http://127.0.0.1:5000 (lossbench talks to an `mlflow server`, not to a local mlruns folder or database)"
            );
        }
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .build()
            .into();
        Ok(Client { uri, agent })
    }

    /// The experiment named `name`, created when there is none: its id.
    pub fn experiment_id(&self, name: &str) -> anyhow::Result<String> {
        #[derive(Deserialize)]
        struct Found {
            experiment: Experiment,
        }
        #[derive(Deserialize)]
        struct Experiment {
            experiment_id: String,
            #[serde(default)]
            lifecycle_stage: String,
        }
        #[derive(Deserialize)]
        struct Created {
            experiment_id: String,
        }
        let endpoint = "experiments/get-by-name";
        let answer = self
            .agent
            .get(self.api(endpoint))
            .query("experiment_name", name)
            .call();
        match self.answer::<Found>(endpoint, answer) {
            Ok(found) if found.experiment.lifecycle_stage == "deleted" => bail!(
                "the experiment `{name}` on {} is deleted; restore it (`mlflow experiments restore --experiment-id {}`) or pass another --experiment",
                self.uri,
                found.experiment.experiment_id
            ),
            Ok(found) => Ok(found.experiment.experiment_id),
            Err(e) if e.downcast_ref::<ApiError>().is_some_and(ApiError::not_found) => {
                let created: Created = self.post("experiments/create", &json!({ "name": name }))?;
                Ok(created.experiment_id)
            }
            Err(e) => Err(e),
        }
    }

    /// Every active run of experiment `experiment_id` that `filter` (MLflow's search
    /// syntax) selects, page after page.
    pub fn search_runs(&self, experiment_id: &str, filter: &str) -> anyhow::Result<Vec<Run>> {
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            runs: Vec<Run>,
            #[serde(default)]
            next_page_token: Option<String>,
        }
        let mut runs = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut body = json!({
                "experiment_ids": [experiment_id],
                "filter": filter,
                "run_view_type": "ACTIVE_ONLY",
                "max_results": SEARCH_PAGE,
            });
            if let Some(t) = &token {
                body["page_token"] = json!(t);
            }
            let page: Page = self.post("runs/search", &body)?;
            runs.extend(page.runs);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(runs),
            }
        }
    }

    /// A new run, `RUNNING`, named `name`, with `tags`: its information.
    pub fn create_run(
        &self,
        experiment_id: &str,
        name: &str,
        start_time: i64,
        tags: &[Tag],
    ) -> anyhow::Result<RunInfo> {
        #[derive(Deserialize)]
        struct Created {
            run: Run,
        }
        let body = json!({
            "experiment_id": experiment_id,
            "run_name": name,
            "start_time": start_time,
            "tags": tags,
        });
        let created: Created = self.post("runs/create", &body)?;
        Ok(created.run.info)
    }

    /// Logs metrics, params and tags to run `run_id`, in as many `runs/log-batch` calls as
    /// the server's limits per call need.
    pub fn log_batch(
        &self,
        run_id: &str,
        metrics: &[Metric],
        params: &[Tag],
        tags: &[Tag],
    ) -> anyhow::Result<()> {
        let (mut metrics, mut params, mut tags) = (metrics, params, tags);
        while !(metrics.is_empty() && params.is_empty() && tags.is_empty()) {
            let t = tags.len().min(MAX_TAGS_PER_BATCH);
            let p = params.len().min(MAX_PARAMS_PER_BATCH);
            let m = metrics
                .len()
                .min(MAX_METRICS_PER_BATCH)
                .min(MAX_ENTITIES_PER_BATCH - t - p);
            let body = json!({
                "run_id": run_id,
                "metrics": &metrics[..m],
                "params": &params[..p],
                "tags": &tags[..t],
            });
            let _: Value = self.post("runs/log-batch", &body)?;
            (metrics, params, tags) = (&metrics[m..], &params[p..], &tags[t..]);
        }
        Ok(())
    }

    /// Sets the status of run `run_id` (`RUNNING`, `FINISHED`, `FAILED`, `KILLED`) and,
    /// when given, its end time.
    pub fn update_run(
        &self,
        run_id: &str,
        status: &str,
        end_time: Option<i64>,
    ) -> anyhow::Result<()> {
        let mut body = json!({ "run_id": run_id, "status": status });
        if let Some(end) = end_time {
            body["end_time"] = json!(end);
        }
        let _: Value = self.post("runs/update", &body)?;
        Ok(())
    }

    /// Uploads `bytes` as the artifact `path` of the run whose artifact root is
    /// `artifact_uri`, through the server's artifact proxy. The root must be a proxied
    /// location (`mlflow-artifacts:/<experiment>/<run>/artifacts`), as the server gives when
    /// it serves artifacts.
    pub fn upload_artifact(
        &self,
        artifact_uri: &str,
        path: &str,
        bytes: &[u8],
    ) -> anyhow::Result<()> {
        let Some(rest) = artifact_uri.strip_prefix(PROXIED) else {
            bail!(
                "the server at {} stores this run's artifacts at {artifact_uri}, which it does not proxy, so the report cannot be uploaded; start `mlflow server` with --serve-artifacts (the default) and --artifacts-destination, for a new experiment (--experiment)",
                self.uri
            );
        };
        // `mlflow-artifacts:/1/<run>/artifacts`, or with an authority:
        // `mlflow-artifacts://host:port/1/<run>/artifacts`.
        let root = match rest.strip_prefix("//") {
            Some(with_host) => with_host.split_once('/').map_or("", |(_, p)| p),
            None => rest.trim_start_matches('/'),
        };
        let endpoint = format!("mlflow-artifacts/artifacts/{root}/{path}");
        let answer = self
            .agent
            .put(format!("{}/api/2.0/{endpoint}", self.uri))
            .header("Content-Type", "application/octet-stream")
            .send(bytes);
        self.answer::<Value>(&endpoint, answer).map(drop)
    }

    fn api(&self, endpoint: &str) -> String {
        format!("{}/api/2.0/mlflow/{endpoint}", self.uri)
    }

    fn post<T: DeserializeOwned>(&self, endpoint: &str, body: &Value) -> anyhow::Result<T> {
        let answer = self.agent.post(self.api(endpoint)).send_json(body);
        self.answer(endpoint, answer)
    }

    /// The answer to a call of `endpoint` as `T`; a transport failure or an error status,
    /// with the server's message, as an error naming the server and the fix.
    fn answer<T: DeserializeOwned>(
        &self,
        endpoint: &str,
        answer: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> anyhow::Result<T> {
        let mut response = answer.map_err(|e| {
            anyhow::anyhow!(
                "cannot reach the MLflow tracking server at {}: {e}; start it (e.g. `mlflow server --host 127.0.0.1 --port 5000`) or pass its address with --tracking-uri",
                self.uri
            )
        })?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_string()
            .with_context(|| format!("cannot read the answer of {} to {endpoint}", self.uri))?;
        if !(200..300).contains(&status) {
            return Err(ApiError::new(&self.uri, endpoint, status, &text).into());
        }
        let text = if text.trim().is_empty() { "{}" } else { &text };
        serde_json::from_str(text).with_context(|| {
            format!(
                "the answer of {} to {endpoint} is not what MLflow's REST API returns; is it an MLflow tracking server?",
                self.uri
            )
        })
    }
}

/// An error status from the server, with its error code and message.
#[derive(Debug, thiserror::Error)]
#[error("the MLflow server at {uri} answered {endpoint} with HTTP {status}{code}: {message}{fix}")]
pub struct ApiError {
    uri: String,
    endpoint: String,
    status: u16,
    code: String,
    message: String,
    fix: &'static str,
}

impl ApiError {
    fn new(uri: &str, endpoint: &str, status: u16, body: &str) -> Self {
        #[derive(Deserialize)]
        struct Body {
            #[serde(default)]
            error_code: String,
            #[serde(default)]
            message: String,
        }
        let (code, message) = match serde_json::from_str::<Body>(body) {
            Ok(b) => (b.error_code, b.message),
            Err(_) => (String::new(), body.trim().chars().take(2000).collect()),
        };
        let fix = match status {
            401 | 403 => "; this server asks for credentials, which lossbench does not send: export to a server without authentication",
            404 if code.is_empty() => "; is this the address of an MLflow tracking server (the REST API under /api/2.0/mlflow)?",
            503 if endpoint.starts_with("mlflow-artifacts") => "; start `mlflow server` with --serve-artifacts (the default) to upload the report",
            _ => "",
        };
        ApiError {
            uri: uri.to_string(),
            endpoint: endpoint.to_string(),
            status,
            code: if code.is_empty() {
                code
            } else {
                format!(" ({code})")
            },
            message,
            fix,
        }
    }

    /// Whether the server said that what was asked for does not exist.
    fn not_found(&self) -> bool {
        self.code == " (RESOURCE_DOES_NOT_EXIST)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_values_that_json_cannot_hold_go_by_name_and_come_back() {
        let metric = |value| Metric {
            key: "k".into(),
            value,
            timestamp: 1,
            step: 2,
        };
        let text = serde_json::to_string(&[
            metric(f64::NAN),
            metric(f64::INFINITY),
            metric(f64::NEG_INFINITY),
            metric(0.25),
        ])
        .expect("serialises");
        assert_eq!(text.matches("\"value\":").count(), 4);
        assert!(text.contains(r#""value":"NaN""#), "{text}");
        assert!(text.contains(r#""value":"Infinity""#), "{text}");
        assert!(text.contains(r#""value":"-Infinity""#), "{text}");
        assert!(text.contains(r#""value":0.25"#), "{text}");
        let back: Vec<Metric> = serde_json::from_str(&text).expect("parses");
        assert!(back[0].value.is_nan());
        assert_eq!(back[1].value, f64::INFINITY);
        assert_eq!(back[2].value, f64::NEG_INFINITY);
        assert_eq!(back[3], metric(0.25));
    }

    #[test]
    fn a_tracking_uri_that_is_not_http_is_refused_with_the_fix() {
        for uri in [
            "file:///tmp/mlruns",
            "sqlite:///mlflow.db",
            "127.0.0.1:5000",
        ] {
            let err = Client::new(uri).err().expect("refused").to_string();
            assert!(err.contains("--tracking-uri http://"), "{err}");
        }
        assert_eq!(
            Client::new("http://127.0.0.1:5000/").expect("accepted").uri,
            "http://127.0.0.1:5000"
        );
    }

    #[test]
    fn an_unreachable_server_is_named_with_the_fix() {
        // Port 9 (discard) on the loopback: nothing listens there.
        let client = Client::new("http://127.0.0.1:9").expect("a client");
        let err = client
            .experiment_id("x")
            .expect_err("no server")
            .to_string();
        assert!(
            err.contains("cannot reach the MLflow tracking server at http://127.0.0.1:9")
                && err.contains("mlflow server"),
            "{err}"
        );
    }

    #[test]
    fn an_error_status_carries_the_servers_code_and_message() {
        let body = r#"{"error_code": "INVALID_PARAMETER_VALUE", "message": "bad key"}"#;
        let e = ApiError::new("http://h:1", "runs/log-batch", 400, body);
        assert_eq!(
            e.to_string(),
            "the MLflow server at http://h:1 answered runs/log-batch with HTTP 400 (INVALID_PARAMETER_VALUE): bad key"
        );
        let e = ApiError::new("http://h:1", "runs/search", 404, "<html>Not Found</html>");
        assert!(
            e.to_string().contains("is this the address of an MLflow"),
            "{e}"
        );
        let missing = r#"{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no"}"#;
        assert!(ApiError::new("u", "e", 404, missing).not_found());
    }
}
