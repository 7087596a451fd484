//! The admin API's client, behind `switchboard deploy`, `apps`, `rollback`
//! and `remove`: so that deploying from a terminal or a CI job goes through
//! exactly the path an upload does.

use std::time::Duration;

use switchboard::config;
use switchboard::deploy::{AppStatus, Outcome};

/// Where the CLI looks for the admin API unless told otherwise: the host's
/// default admin listener.
pub const DEFAULT_ADMIN_URL: &str = "http://127.0.0.1:9090";

/// Why a command failed; `is_bad_input` decides the exit code.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    BadInput(String),
    #[error("the host refused ({status}): {message}")]
    Refused { status: u16, message: String },
    #[error("cannot reach the admin API at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("unexpected answer from the admin API: {0}")]
    BadAnswer(String),
}

impl ClientError {
    /// A mistake in what was asked (a bad module, an unknown app, a wrong
    /// token), as opposed to a host that could not be reached or failed.
    pub fn is_bad_input(&self) -> bool {
        match self {
            ClientError::BadInput(_) => true,
            ClientError::Refused { status, .. } => (400..500).contains(status),
            _ => false,
        }
    }
}

pub struct AdminClient {
    base: String,
    token: String,
    agent: ureq::Agent,
}

/// What a deploy reports.
#[derive(Debug, serde::Deserialize)]
pub struct DeployAnswer {
    pub outcome: Outcome,
    #[serde(flatten)]
    pub status: AppStatus,
}

impl AdminClient {
    pub fn new(base: &str, token: Option<String>) -> Result<Self, ClientError> {
        let token = token.filter(|token| !token.is_empty()).ok_or_else(|| {
            ClientError::BadInput("set SWITCHBOARD_ADMIN_TOKEN to the host's admin token".into())
        })?;
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // A deploy compiles the module before answering; big ones take
            // seconds on a small machine.
            .timeout_global(Some(Duration::from_secs(300)))
            .build()
            .into();
        Ok(AdminClient {
            base: base.trim_end_matches('/').to_string(),
            token,
            agent,
        })
    }

    pub fn deploy(
        &self,
        name: &str,
        module: Vec<u8>,
        route: Option<&str>,
    ) -> Result<DeployAnswer, ClientError> {
        config::check_app_name(name).map_err(ClientError::BadInput)?;
        let mut path = format!("/apps/{name}");
        if let Some(route) = route {
            config::check_route(route).map_err(ClientError::BadInput)?;
            path.push_str(&format!("?route={route}"));
        }
        let url = self.url(&path);
        let response = self
            .agent
            .put(&url)
            .header("Authorization", &self.bearer())
            .header("Content-Type", "application/wasm")
            .send(&module[..]);
        self.answer(&url, response)
    }

    pub fn apps(&self) -> Result<Vec<AppStatus>, ClientError> {
        self.get("/apps")
    }

    pub fn app(&self, name: &str) -> Result<AppStatus, ClientError> {
        config::check_app_name(name).map_err(ClientError::BadInput)?;
        self.get(&format!("/apps/{name}"))
    }

    fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let url = self.url(path);
        let response = self
            .agent
            .get(&url)
            .header("Authorization", &self.bearer())
            .call();
        self.answer(&url, response)
    }

    pub fn rollback(&self, name: &str, to: Option<&str>) -> Result<AppStatus, ClientError> {
        config::check_app_name(name).map_err(ClientError::BadInput)?;
        let mut path = format!("/apps/{name}/rollback");
        if let Some(to) = to {
            if !to.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(ClientError::BadInput(format!(
                    "{to:?} is not a version (hex digits of its hash)"
                )));
            }
            path.push_str(&format!("?version={to}"));
        }
        let url = self.url(&path);
        let response = self
            .agent
            .post(&url)
            .header("Authorization", &self.bearer())
            .send_empty();
        self.answer(&url, response)
    }

    pub fn remove(&self, name: &str) -> Result<(), ClientError> {
        config::check_app_name(name).map_err(ClientError::BadInput)?;
        let url = self.url(&format!("/apps/{name}"));
        let response = self
            .agent
            .delete(&url)
            .header("Authorization", &self.bearer())
            .call();
        let mut response = response.map_err(|error| unreachable(&url, error))?;
        if response.status().is_success() {
            return Ok(());
        }
        Err(refused(response.status().as_u16(), &mut response))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn bearer(&self) -> String {
        format!("Bearer {}", self.token)
    }

    fn answer<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        response: Result<http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<T, ClientError> {
        let mut response = response.map_err(|error| unreachable(url, error))?;
        let status = response.status().as_u16();
        if !response.status().is_success() {
            return Err(refused(status, &mut response));
        }
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|error| ClientError::BadAnswer(error.to_string()))?;
        serde_json::from_str(&text)
            .map_err(|error| ClientError::BadAnswer(format!("{error}: {text}")))
    }
}

fn unreachable(url: &str, error: ureq::Error) -> ClientError {
    ClientError::Unreachable {
        url: url.to_string(),
        reason: error.to_string(),
    }
}

fn refused(status: u16, response: &mut http::Response<ureq::Body>) -> ClientError {
    let text = response.body_mut().read_to_string().unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|value| value.get("error")?.as_str().map(str::to_string))
        .unwrap_or(text);
    ClientError::Refused { status, message }
}

/// One app as a few lines of text, for the terminal.
pub fn describe(status: &AppStatus) -> String {
    let mut text = format!(
        "{}  route {}  version {}  {} connection{}\n",
        status.name,
        status.route,
        status.active_version,
        status.connections,
        if status.connections == 1 { "" } else { "s" }
    );
    for version in status.versions.iter().rev() {
        text.push_str(&format!(
            "  {} {}  {:>9} bytes  {}  {:?}\n",
            if version.active { "*" } else { " " },
            version.version,
            version.size,
            version.deployed_at,
            version.source,
        ));
    }
    if let Some(file) = &status.module_file {
        text.push_str(&format!("  watching {file}\n"));
    }
    if let Some(error) = &status.last_error {
        text.push_str(&format!("  last error ({}): {}\n", error.at, error.message));
    }
    text
}
