//! One HTTP range request to a web seed, and the checks on its answer: the status, the
//! range the server says it sent, and a body of exactly the length asked for (read with a
//! bound, so a server that sends more costs one byte of memory past what we asked, not
//! whatever it sends).

use super::layout::{Source, Span};
use std::fmt;
use std::io::Read;
use std::time::Duration;

/// How long to wait for the server to accept the connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one read may wait for bytes.
const READ_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one request may take in all: a server that trickles gives its blocks back.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Redirects followed before the server is taken to loop.
const REDIRECTS: u32 = 5;

/// Why a request to a web seed gave no usable bytes.
#[derive(Debug)]
pub enum FetchError {
    /// The server answered with an error status (404, 500...).
    Status(u16),
    /// It could not be reached, timed out, or redirected too often.
    Transport(String),
    /// It answered a range request with something other than that range.
    WrongRange { asked: String, answer: String },
    /// The body was not the length asked for.
    Length { asked: u64, got: u64 },
    /// Reading the body failed.
    Read(std::io::Error),
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Status(code) => write!(f, "the server answered {code}"),
            FetchError::Transport(error) => write!(f, "{error}"),
            FetchError::WrongRange { asked, answer } => {
                write!(f, "asked for {asked}, the server answered {answer}")
            }
            FetchError::Length { asked, got } if got > asked => {
                write!(f, "asked for {asked} bytes, the server sent more")
            }
            FetchError::Length { asked, got } => {
                write!(f, "asked for {asked} bytes, the server sent {got}")
            }
            FetchError::Read(error) => write!(f, "reading the answer failed: {error}"),
        }
    }
}

/// The HTTP client a web seed thread keeps: its connections are reused between requests.
pub fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(CONNECT_TIMEOUT)
        .timeout_read(READ_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .redirects(REDIRECTS)
        .user_agent(concat!("smalltorrent/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Appends `span`'s bytes to `out`: zeros for a pad file, else one range request.
pub fn fetch(agent: &ureq::Agent, span: &Span<'_>, out: &mut Vec<u8>) -> Result<(), FetchError> {
    let url = match span.source {
        Source::Zeros => {
            out.resize(out.len() + span.length as usize, 0);
            return Ok(());
        }
        Source::Url(url) => url,
    };
    let last = span.start + span.length - 1;
    let asked = format!("bytes {}-{last}", span.start);
    let response = agent
        .get(url)
        .set("Range", &format!("bytes={}-{last}", span.start))
        .call()
        .map_err(|error| match error {
            ureq::Error::Status(code, _) => FetchError::Status(code),
            ureq::Error::Transport(transport) => FetchError::Transport(describe(&transport)),
        })?;
    match response.status() {
        206 => {
            let answer = response.header("Content-Range").unwrap_or("no range");
            if !answer.starts_with(&format!("{asked}/")) {
                let answer = answer.chars().take(80).collect();
                return Err(FetchError::WrongRange { asked, answer });
            }
        }
        // The whole file for a range that covers it all is the right answer too.
        200 if span.start == 0 && span.length == span.file_length => {}
        status => {
            let answer = format!("status {status} without the range");
            return Err(FetchError::WrongRange { asked, answer });
        }
    }
    let before = out.len();
    let mut body = response.into_reader().take(span.length + 1);
    body.read_to_end(out).map_err(FetchError::Read)?;
    let got = (out.len() - before) as u64;
    if got != span.length {
        out.truncate(before);
        return Err(FetchError::Length {
            asked: span.length,
            got,
        });
    }
    Ok(())
}

/// A transport error's kind, message and cause, without the URL (the log line names the
/// web seed): `Connection Failed: Connect error: Connection refused (os error 111)`.
fn describe(transport: &ureq::Transport) -> String {
    let mut text = transport.kind().to_string();
    if let Some(message) = transport.message() {
        text.push_str(&format!(": {message}"));
    }
    if let Some(cause) = std::error::Error::source(transport) {
        text.push_str(&format!(": {cause}"));
    }
    text
}
