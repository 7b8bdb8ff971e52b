//! The gRPC clients of the services behind the gateway. Channels connect lazily, so the
//! gateway starts before (or without) its upstreams; readiness says when they answer.

use std::time::Duration;

use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use ultra_proto::v1::erasure_service_client::ErasureServiceClient;
use ultra_proto::v1::files_service_client::FilesServiceClient;
use ultra_proto::v1::organizations_service_client::OrganizationsServiceClient;
use ultra_proto::v1::results_service_client::ResultsServiceClient;
use ultra_proto::v1::simulation_service_client::SimulationServiceClient;
use ultra_proto::v1::sso_service_client::SsoServiceClient;
use ultra_proto::v1::users_service_client::UsersServiceClient;

use crate::config::UpstreamUrls;

/// How long `/readyz` waits for one upstream's health answer.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(1);

/// One named upstream channel (cheap to clone: tonic channels are handles).
#[derive(Clone, Debug)]
pub struct NamedChannel {
    pub name: &'static str,
    pub channel: Channel,
}

#[derive(Clone, Debug)]
pub struct Upstreams {
    pub users: UsersServiceClient<Channel>,
    pub files: FilesServiceClient<Channel>,
    pub simulation: SimulationServiceClient<Channel>,
    pub results: ResultsServiceClient<Channel>,
    /// Members and API keys, served by the users service.
    pub orgs: OrganizationsServiceClient<Channel>,
    /// GDPR erasures, served by the users service.
    pub erasure: ErasureServiceClient<Channel>,
    /// OIDC single sign-on, served by the users service.
    pub sso: SsoServiceClient<Channel>,
    /// Every upstream, including those the REST API does not call yet (billing,
    /// analytics), for readiness.
    pub all: Vec<NamedChannel>,
}

impl Upstreams {
    pub fn connect_lazy(urls: &UpstreamUrls) -> Result<Upstreams, ultra_rpc::RpcError> {
        let users = ultra_rpc::lazy_channel(&urls.users)?;
        let files = ultra_rpc::lazy_channel(&urls.files)?;
        let simulation = ultra_rpc::lazy_channel(&urls.simulation)?;
        let results = ultra_rpc::lazy_channel(&urls.results)?;
        let all = vec![
            NamedChannel {
                name: "users",
                channel: users.clone(),
            },
            NamedChannel {
                name: "files",
                channel: files.clone(),
            },
            NamedChannel {
                name: "simulation",
                channel: simulation.clone(),
            },
            NamedChannel {
                name: "results",
                channel: results.clone(),
            },
            NamedChannel {
                name: "billing",
                channel: ultra_rpc::lazy_channel(&urls.billing)?,
            },
            NamedChannel {
                name: "analytics",
                channel: ultra_rpc::lazy_channel(&urls.analytics)?,
            },
        ];
        Ok(Upstreams {
            orgs: OrganizationsServiceClient::new(users.clone()),
            erasure: ErasureServiceClient::new(users.clone()),
            sso: SsoServiceClient::new(users.clone()),
            users: UsersServiceClient::new(users),
            files: FilesServiceClient::new(files),
            simulation: SimulationServiceClient::new(simulation),
            results: ResultsServiceClient::new(results),
            all,
        })
    }

    /// Asks every upstream's gRPC health service (overall status) in parallel; returns
    /// each upstream's name with whether it answered SERVING in time.
    pub async fn health(&self) -> Vec<(&'static str, bool)> {
        let checks = self.all.iter().map(|upstream| async move {
            let mut client = HealthClient::new(upstream.channel.clone());
            let request = HealthCheckRequest {
                service: String::new(),
            };
            let answer = tokio::time::timeout(HEALTH_TIMEOUT, client.check(request)).await;
            let serving = matches!(
                answer,
                Ok(Ok(response)) if response.get_ref().status == ServingStatus::Serving as i32
            );
            (upstream.name, serving)
        });
        futures_util::future::join_all(checks).await
    }
}
