//! [`McpClient`]: a connection to one MCP server, opened on first use and reopened after
//! the server goes away.

use std::ffi::OsString;
use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use graph_core::{BoxError, State};
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation,
    JsonObject,
};
use rmcp::service::{RoleClient, RunningService, ServiceError};
use rmcp::transport::common::client_side_sse::ExponentialBackoff;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::ServiceExt;
use tokio::process::Command;
use tokio::sync::Mutex;

use super::error::McpError;
use super::tool::McpTool;
use crate::tool::Toolbox;

/// An open session with a server.
type Session = Arc<RunningService<RoleClient, ClientConfig>>;

/// How long a request may take unless [`McpClient::timeout`] says otherwise.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A client of one MCP server, whose tools become tools of a [`Toolbox`].
///
/// The connection opens on first use (listing or calling tools) and is shared by the
/// client's clones and its tools. Each request (the handshake included) has a timeout,
/// 30 seconds unless [`timeout`](Self::timeout) sets another. When the server goes away (the
/// child process exits, the HTTP server stops) a request in flight fails with
/// [`McpError::Disconnected`], and the next request connects again: it spawns the process
/// again, or reopens the HTTP session, once, and fails with [`McpError::Connect`] if that
/// fails. A failed call is never sent again on its own, since the server may have run it.
///
/// Cheap to clone.
#[derive(Clone)]
#[must_use]
pub struct McpClient {
    server: Arc<str>,
    transport: Arc<Transport>,
    timeout: Duration,
    session: Arc<Mutex<Option<Session>>>,
}

/// Where the server is.
#[derive(Debug)]
enum Transport {
    /// A child process speaking MCP over its stdin and stdout.
    Spawn(ChildCommand),
    /// A streamable HTTP endpoint.
    Http(Arc<str>),
}

/// What it takes to spawn the server again: `tokio::process::Command` cannot be cloned.
#[derive(Debug)]
struct ChildCommand {
    program: OsString,
    args: Vec<OsString>,
    envs: Vec<(OsString, Option<OsString>)>,
    current_dir: Option<PathBuf>,
}

impl ChildCommand {
    fn new(command: &Command) -> Self {
        let command = command.as_std();
        Self {
            program: command.get_program().to_owned(),
            args: command.get_args().map(ToOwned::to_owned).collect(),
            envs: command
                .get_envs()
                .map(|(k, v)| (k.to_owned(), v.map(ToOwned::to_owned)))
                .collect(),
            current_dir: command.get_current_dir().map(ToOwned::to_owned),
        }
    }

    fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command.args(&self.args);
        for (key, value) in &self.envs {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        if let Some(dir) = &self.current_dir {
            command.current_dir(dir);
        }
        command
    }
}

impl fmt::Debug for McpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpClient")
            .field("server", &self.server)
            .field("transport", &self.transport)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl McpClient {
    /// A client of the server that `command` starts, speaking MCP over the child's stdin and
    /// stdout (its stderr is inherited). Each connection spawns the command's program again
    /// with the same arguments, environment changes and working directory; other settings
    /// of `command` are not kept. The server is named after the program's file name.
    pub fn spawn(command: Command) -> Self {
        let command = ChildCommand::new(&command);
        let program = PathBuf::from(&command.program);
        let server = program.file_name().unwrap_or(program.as_os_str()).to_string_lossy().into();
        Self::with_transport(server, Transport::Spawn(command))
    }

    /// A client of the streamable HTTP server at `url` (such as `http://127.0.0.1:8000/mcp`),
    /// named after the URL.
    ///
    /// `https` goes over rustls, trusting the system's certificates.
    pub fn http(url: impl Into<String>) -> Self {
        let url: Arc<str> = url.into().into();
        Self::with_transport(url.clone(), Transport::Http(url))
    }

    fn with_transport(server: Arc<str>, transport: Transport) -> Self {
        Self {
            server,
            transport: Arc::new(transport),
            timeout: DEFAULT_TIMEOUT,
            session: Arc::default(),
        }
    }

    /// The same client, with errors naming the server `name`.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.server = name.into().into();
        self
    }

    /// The same client, with each request (the handshake, a listing, a call) failing with
    /// [`McpError::Timeout`] after `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The server's name in errors.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Connects now, if not connected, instead of on first use.
    pub async fn connect(&self) -> Result<(), McpError> {
        self.session().await.map(drop)
    }

    /// The server's tools, each keeping the server's name, description and input schema,
    /// in the server's order (every page of the listing).
    pub async fn tools(&self) -> Result<Vec<McpTool>, McpError> {
        let session = self.session().await?;
        let listed = match self.request(&session, None, session.list_all_tools()).await {
            // Listing is safe to repeat: after a drop, reconnect and list once more.
            Err(McpError::Disconnected { .. }) => {
                let session = self.session().await?;
                self.request(&session, None, session.list_all_tools()).await?
            }
            other => other?,
        };
        Ok(listed.into_iter().map(|tool| McpTool::new(self.clone(), tool)).collect())
    }

    /// The server's tools as a toolbox, to [`merge`](Toolbox::merge) with others.
    pub async fn toolbox<S: State>(&self) -> Result<Toolbox<S>, McpError> {
        let tools = self.tools().await?;
        Ok(tools.into_iter().fold(Toolbox::new(), Toolbox::with))
    }

    /// Closes the connection (ending a child process) if one is open; the next request
    /// connects again.
    pub async fn close(&self) {
        let session = self.session.lock().await.take();
        // A session still used by a call in flight closes when that call ends.
        if let Some(mut session) = session.and_then(Arc::into_inner) {
            let _ = session.close_with_timeout(self.timeout).await;
        }
    }

    /// Calls the tool `name` with `args`.
    pub(crate) async fn call_tool(
        &self,
        name: &str,
        args: JsonObject,
    ) -> Result<CallToolResult, McpError> {
        let session = self.session().await?;
        let params = CallToolRequestParams::new(name.to_owned()).with_arguments(args);
        self.request(&session, Some(name), session.call_tool(params)).await
    }

    /// The open session, or a new one if there is none or the last one closed.
    async fn session(&self) -> Result<Session, McpError> {
        let mut slot = self.session.lock().await;
        if let Some(session) = slot.as_ref() {
            if !session.is_closed() && !session.is_transport_closed() {
                return Ok(Arc::clone(session));
            }
        }
        *slot = None;
        let session = Arc::new(self.open().await?);
        *slot = Some(Arc::clone(&session));
        Ok(session)
    }

    /// Starts or reaches the server and completes the handshake.
    async fn open(&self) -> Result<RunningService<RoleClient, ClientConfig>, McpError> {
        let info = ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("graph-agent", env!("CARGO_PKG_VERSION")),
        );
        let connect =
            |source: BoxError| McpError::Connect { server: self.server.to_string(), source };
        let opening = async {
            match &*self.transport {
                Transport::Spawn(command) => {
                    let child = TokioChildProcess::new(command.command())
                        .map_err(|error| connect(error.into()))?;
                    info.serve(child).await.map_err(|error| connect(error.into()))
                }
                Transport::Http(url) => {
                    let client = http_client().map_err(connect)?;
                    let transport =
                        StreamableHttpClientTransport::with_client(client, http_config(url));
                    info.serve(transport).await.map_err(|error| connect(error.into()))
                }
            }
        };
        match tokio::time::timeout(self.timeout, opening).await {
            Ok(opened) => opened,
            Err(_) => Err(connect(format!("no handshake within {:?}", self.timeout).into())),
        }
    }

    /// Runs `request` on `session` under the timeout, forgetting the session if it closed.
    async fn request<T>(
        &self,
        session: &Session,
        tool: Option<&str>,
        request: impl Future<Output = Result<T, ServiceError>>,
    ) -> Result<T, McpError> {
        let server = self.server.to_string();
        let tool = tool.map(str::to_owned);
        let error = match tokio::time::timeout(self.timeout, request).await {
            Ok(Ok(answer)) => return Ok(answer),
            Ok(Err(error)) => error,
            Err(_) => return Err(McpError::Timeout { server, tool, timeout: self.timeout }),
        };
        match error {
            ServiceError::TransportClosed
            | ServiceError::TransportSend(_)
            | ServiceError::Cancelled { .. } => {
                self.forget(session).await;
                Err(McpError::Disconnected { server, tool, source: error.into() })
            }
            ServiceError::Timeout { timeout } => Err(McpError::Timeout { server, tool, timeout }),
            error => Err(McpError::Protocol { server, tool, source: error.into() }),
        }
    }

    /// Drops `session` if it is still the open one, so the next request reconnects.
    async fn forget(&self, session: &Session) {
        let mut slot = self.session.lock().await;
        if slot.as_ref().is_some_and(|open| Arc::ptr_eq(open, session)) {
            *slot = None;
        }
    }
}

/// The HTTP transport's settings: a response stream that breaks is resumed three times
/// within two seconds, not forever, so that a server gone mid-call is reported as such.
fn http_config(url: &Arc<str>) -> StreamableHttpClientTransportConfig {
    let mut retry = ExponentialBackoff::default();
    retry.max_times = Some(3);
    retry.base_duration = Duration::from_millis(250);
    let mut config = StreamableHttpClientTransportConfig::with_uri(Arc::clone(url));
    config.retry_config = Arc::new(retry);
    config
}

/// The HTTP client. It follows no redirects: `rmcp` reports one as an error rather than
/// send the session's headers to another location.
fn http_client() -> Result<reqwest::Client, BoxError> {
    let client = crate::http::client_builder()?
        .redirect(reqwest::redirect::Policy::none())
        // As `rmcp` does: reusing a connection whose last answer was not read to the end
        // stalls on delayed acknowledgements.
        .pool_max_idle_per_host(0)
        .build()?;
    Ok(client)
}
