//! W3C trace context across a gRPC hop: a request made with `ultra_rpc::traced` (or signed by
//! `CallerAuth::request`) inside a trace reaches a guarded service's handler inside the same
//! trace, and an event the handler creates records that trace in its envelope; a request
//! without one starts none.

use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;
use ultra_proto::v1::analytics_service_client::AnalyticsServiceClient;
use ultra_proto::v1::analytics_service_server::{AnalyticsService, AnalyticsServiceServer};
use ultra_proto::v1::event::Payload;
use ultra_proto::v1::{ModelDeleted, UsageReport, UsageReportRequest};
use ultra_telemetry::TraceContext;

const CLIENT_TRACE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// What one call's handler saw: the trace context it ran in, and the `traceparent` of an
/// event it created.
type Observed = (Option<TraceContext>, String);

/// Records what each call's handler saw.
#[derive(Default, Clone)]
struct Recorder(Arc<Mutex<Vec<Observed>>>);

#[tonic::async_trait]
impl AnalyticsService for Recorder {
    async fn get_usage_report(
        &self,
        _: tonic::Request<UsageReportRequest>,
    ) -> Result<tonic::Response<UsageReport>, tonic::Status> {
        let event = ultra_bus::new_event(
            "model.deleted",
            "org",
            "user",
            Payload::ModelDeleted(ModelDeleted::default()),
        );
        self.0
            .lock()
            .expect("lock")
            .push((ultra_telemetry::current(), event.traceparent));
        Ok(tonic::Response::new(UsageReport::default()))
    }
}

#[tokio::test]
async fn the_trace_crosses_the_call_and_lands_in_the_event_envelope() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let shutdown = CancellationToken::new();
    let recorder = Recorder::default();
    let routes = Routes::new(
        ultra_rpc::CallerAuth::disabled().guard(AnalyticsServiceServer::new(recorder.clone())),
    );
    let server = tokio::spawn(ultra_rpc::serve_named(
        listener,
        routes,
        &["ultra.v1.AnalyticsService"],
        shutdown.clone(),
    ));
    let mut client = AnalyticsServiceClient::new(ultra_rpc::lazy_channel(&url).expect("channel"));

    let client_trace = TraceContext::parse(CLIENT_TRACE).expect("valid");
    ultra_telemetry::scope(client_trace, async {
        client
            .get_usage_report(ultra_rpc::traced(UsageReportRequest::default()))
            .await
            .expect("traced call");
    })
    .await;
    client
        .get_usage_report(ultra_rpc::traced(UsageReportRequest::default()))
        .await
        .expect("untraced call");

    let calls = recorder.0.lock().expect("lock").clone();
    assert_eq!(calls.len(), 2);
    let (handler_trace, event_traceparent) = &calls[0];
    let handler_trace = handler_trace.expect("the handler runs inside the caller's trace");
    assert_eq!(handler_trace.trace_id(), client_trace.trace_id());
    // The call is a span of its own under the client's.
    assert_ne!(handler_trace, client_trace);
    let event_trace = TraceContext::parse(event_traceparent).expect("the event is traced");
    assert_eq!(event_trace.trace_id(), client_trace.trace_id());
    assert_ne!(event_trace, handler_trace);

    let (untraced_handler, untraced_event) = &calls[1];
    assert_eq!(*untraced_handler, None);
    assert_eq!(untraced_event, "");

    shutdown.cancel();
    server.await.expect("join").expect("server");
}
