//! A minimal HTTP/1.1 client over a tokio `TcpStream`, for the platform's smoke tests and
//! the progress benchmark: keep-alive, `content-length` and chunked bodies, Server-Sent
//! Events. Plain HTTP on loopback only; not a general-purpose client.

use std::io;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A response: status, headers (names lowercased) and the whole body.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The body as JSON (`null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// One Server-Sent Event.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub event: String,
    pub data: String,
}

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

/// `host:port` of an `http://host:port[/...]` URL.
pub fn authority(base_url: &str) -> io::Result<&str> {
    let rest = base_url
        .strip_prefix("http://")
        .ok_or_else(|| invalid("only http:// URLs"))?;
    Ok(rest.split('/').next().unwrap_or(rest))
}

/// Serialises a request (with `host` unless `headers` name one, `content-length`,
/// keep-alive).
pub fn encode_request(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("host"))
    {
        head.push_str("host: localhost\r\n");
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
        head.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// A keep-alive connection.
pub struct HttpConnection {
    stream: BufReader<TcpStream>,
}

impl HttpConnection {
    pub async fn connect(base_url: &str) -> io::Result<HttpConnection> {
        let stream = TcpStream::connect(authority(base_url)?).await?;
        stream.set_nodelay(true)?;
        Ok(HttpConnection {
            stream: BufReader::new(stream),
        })
    }

    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<HttpResponse> {
        self.send_encoded(&encode_request(method, path, headers, body))
            .await
    }

    /// Sends an already encoded request and reads its response.
    pub async fn send_encoded(&mut self, request: &[u8]) -> io::Result<HttpResponse> {
        self.stream.get_mut().write_all(request).await?;
        let (status, headers) = self.read_head().await?;
        let mut response = HttpResponse {
            status,
            headers,
            body: Vec::new(),
        };
        let chunked = response
            .header("transfer-encoding")
            .is_some_and(|v| v.contains("chunked"));
        if chunked {
            while let Some(chunk) = self.read_chunk().await? {
                response.body.extend_from_slice(&chunk);
            }
        } else if let Some(length) = response.header("content-length") {
            let length: usize = length
                .trim()
                .parse()
                .map_err(|_| invalid("bad content-length"))?;
            response.body.resize(length, 0);
            self.stream.read_exact(&mut response.body).await?;
        } else if !(status == 204 || status == 304 || (100..200).contains(&status)) {
            self.stream.read_to_end(&mut response.body).await?;
        }
        Ok(response)
    }

    async fn read_line(&mut self) -> io::Result<String> {
        let mut line = String::new();
        if self.stream.read_line(&mut line).await? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        Ok(line.trim_end_matches(['\r', '\n']).to_string())
    }

    async fn read_head(&mut self) -> io::Result<(u16, Vec<(String, String)>)> {
        let status_line = self.read_line().await?;
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| invalid(format!("bad status line {status_line:?}")))?;
        let mut headers = Vec::new();
        loop {
            let line = self.read_line().await?;
            if line.is_empty() {
                return Ok((status, headers));
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
            }
        }
    }

    /// The next chunk of a chunked body; `None` after the last one.
    async fn read_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        let size_line = self.read_line().await?;
        let size_text = size_line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| invalid("bad chunk size"))?;
        if size == 0 {
            // Trailers (none expected) end with an empty line.
            while !self.read_line().await?.is_empty() {}
            return Ok(None);
        }
        let mut chunk = vec![0; size];
        self.stream.read_exact(&mut chunk).await?;
        self.read_line().await?;
        Ok(Some(chunk))
    }

    /// Sends a GET and reads its body as Server-Sent Events until the server ends the
    /// stream. Returns the status and, for 200, the events in order.
    pub async fn events(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> io::Result<(u16, Vec<SseEvent>)> {
        let mut all_headers = vec![("accept", "text/event-stream")];
        all_headers.extend_from_slice(headers);
        self.stream
            .get_mut()
            .write_all(&encode_request("GET", path, &all_headers, b""))
            .await?;
        let (status, response_headers) = self.read_head().await?;
        let chunked = response_headers
            .iter()
            .any(|(name, value)| name == "transfer-encoding" && value.contains("chunked"));
        if status != 200 || !chunked {
            return Ok((status, Vec::new()));
        }
        let mut pending = String::new();
        let mut events = Vec::new();
        while let Some(chunk) = self.read_chunk().await? {
            pending.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = pending.find("\n\n") {
                let block: String = pending.drain(..end + 2).collect();
                if let Some(event) = parse_event(&block) {
                    events.push(event);
                }
            }
        }
        Ok((status, events))
    }
}

/// One SSE block (`event:` / `data:` lines; comments and keep-alives yield `None`).
fn parse_event(block: &str) -> Option<SseEvent> {
    let mut event = String::from("message");
    let mut data = Vec::new();
    for line in block.lines() {
        if let Some(value) = line.strip_prefix("event:") {
            event = value.trim().to_string();
        } else if let Some(value) = line.strip_prefix("data:") {
            data.push(value.strip_prefix(' ').unwrap_or(value).to_string());
        }
    }
    (!data.is_empty()).then(|| SseEvent {
        event,
        data: data.join("\n"),
    })
}

/// One request on a fresh connection.
pub async fn request(
    base_url: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<HttpResponse> {
    HttpConnection::connect(base_url)
        .await?
        .send(method, path, headers, body)
        .await
}
