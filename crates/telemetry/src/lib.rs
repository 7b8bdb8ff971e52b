//! W3C Trace Context (`traceparent`, <https://www.w3.org/TR/trace-context/>) carried across
//! every hop of a request: the gateway takes it from the client (or starts a trace), gRPC
//! calls carry it in metadata, services scope their handlers with it, and events written
//! while handling a request record it in their envelope, so a consumer's work can be tied
//! back to the request that caused it.
//!
//! The context of the work in progress lives in a task-local ([`scope`], [`current`]): code
//! that signs a gRPC request or creates an event reads it there instead of having it passed
//! through every function. Spans are not exported yet; the ids are what log lines and
//! envelopes carry.

use std::fmt;
use std::future::Future;

/// The HTTP header and gRPC metadata key.
pub const TRACEPARENT: &str = "traceparent";

/// One position in a trace: the trace, the span that is the parent of whatever comes next,
/// and the trace flags (bit 0: sampled).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceContext {
    trace_id: [u8; 16],
    parent_id: [u8; 8],
    flags: u8,
}

tokio::task_local! {
    static CURRENT: TraceContext;
}

impl TraceContext {
    /// Parses a `traceparent` value. `None` for anything the specification says to ignore:
    /// wrong length or separators, upper-case or non-hex digits, version `ff`, all-zero
    /// trace or parent ids. A future version (above `00`) is read by its first four fields,
    /// as the specification asks.
    pub fn parse(value: &str) -> Option<TraceContext> {
        let value = value.trim();
        let bytes = value.as_bytes();
        if bytes.len() < 55 || !value.is_ascii() {
            return None;
        }
        let version = hex_byte(&value[0..2])?;
        if version == 0xff
            || (version == 0 && bytes.len() != 55)
            || (bytes.len() > 55 && bytes[55] != b'-')
        {
            return None;
        }
        if bytes[2] != b'-' || bytes[35] != b'-' || bytes[52] != b'-' {
            return None;
        }
        let mut trace_id = [0_u8; 16];
        for (index, byte) in trace_id.iter_mut().enumerate() {
            *byte = hex_byte(&value[3 + 2 * index..5 + 2 * index])?;
        }
        let mut parent_id = [0_u8; 8];
        for (index, byte) in parent_id.iter_mut().enumerate() {
            *byte = hex_byte(&value[36 + 2 * index..38 + 2 * index])?;
        }
        let flags = hex_byte(&value[53..55])?;
        if trace_id == [0; 16] || parent_id == [0; 8] {
            return None;
        }
        Some(TraceContext {
            trace_id,
            parent_id,
            flags,
        })
    }

    /// A new trace (random ids), sampled: for a request that arrived without one.
    pub fn new_root() -> TraceContext {
        let random = uuid::Uuid::new_v4().into_bytes();
        TraceContext {
            trace_id: random,
            parent_id: new_span_id(),
            flags: 1,
        }
    }

    /// The same trace with a new span id: what an outgoing call or an event carries, so each
    /// hop is its own span under this one.
    pub fn child(&self) -> TraceContext {
        TraceContext {
            parent_id: new_span_id(),
            ..*self
        }
    }

    /// The trace id, 32 lower-case hex digits (for log fields).
    pub fn trace_id(&self) -> String {
        hex(&self.trace_id)
    }
}

impl fmt::Display for TraceContext {
    /// The `traceparent` value, version 00.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "00-{}-{}-{:02x}",
            hex(&self.trace_id),
            hex(&self.parent_id),
            self.flags
        )
    }
}

/// Runs `future` with `context` as the current trace context.
pub fn scope<F: Future>(context: TraceContext, future: F) -> impl Future<Output = F::Output> {
    CURRENT.scope(context, future)
}

/// The trace context of the work in progress, if it runs inside [`scope`].
pub fn current() -> Option<TraceContext> {
    CURRENT.try_with(|context| *context).ok()
}

/// The `traceparent` for an outgoing call or a new event: a child of the current context,
/// or empty outside any trace.
pub fn outgoing_traceparent() -> String {
    current()
        .map(|context| context.child().to_string())
        .unwrap_or_default()
}

fn new_span_id() -> [u8; 8] {
    let random = uuid::Uuid::new_v4().into_bytes();
    let mut span = [0_u8; 8];
    span.copy_from_slice(&random[..8]);
    if span == [0; 8] {
        span[7] = 1;
    }
    span
}

fn hex_byte(digits: &str) -> Option<u8> {
    let valid = digits
        .bytes()
        .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte));
    if !valid {
        return None;
    }
    u8::from_str_radix(digits, 16).ok()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn the_specification_example_round_trips() {
        let context = TraceContext::parse(EXAMPLE).expect("valid");
        assert_eq!(context.to_string(), EXAMPLE);
        assert_eq!(context.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
    }

    #[test]
    fn invalid_values_are_ignored() {
        for invalid in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
            "0é-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceContext::parse(invalid), None, "{invalid:?}");
        }
    }

    #[test]
    fn a_future_version_is_read_by_its_known_fields() {
        let future = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-comes-next";
        let context = TraceContext::parse(future).expect("readable");
        assert_eq!(context.to_string(), EXAMPLE);
    }

    #[test]
    fn children_keep_the_trace_and_get_a_new_span() {
        let root = TraceContext::new_root();
        let child = root.child();
        assert_eq!(child.trace_id(), root.trace_id());
        assert_ne!(child.to_string(), root.to_string());
        assert_eq!(TraceContext::parse(&child.to_string()), Some(child));
    }

    #[tokio::test]
    async fn the_current_context_is_the_scoped_one() {
        assert_eq!(current(), None);
        assert_eq!(outgoing_traceparent(), "");
        let context = TraceContext::parse(EXAMPLE).expect("valid");
        let outgoing = scope(context, async { outgoing_traceparent() }).await;
        let outgoing = TraceContext::parse(&outgoing).expect("valid");
        assert_eq!(outgoing.trace_id(), context.trace_id());
        assert_ne!(outgoing, context);
    }
}
