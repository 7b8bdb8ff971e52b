//! The descriptor set served by reflection holds every service of the contract.

use prost::Message;

#[test]
fn descriptor_set_names_all_six_services() {
    #[derive(Clone, PartialEq, Message)]
    struct FileDescriptorSet {
        #[prost(message, repeated, tag = "1")]
        file: Vec<FileDescriptor>,
    }
    #[derive(Clone, PartialEq, Message)]
    struct FileDescriptor {
        #[prost(string, optional, tag = "2")]
        package: Option<String>,
        #[prost(message, repeated, tag = "6")]
        service: Vec<Service>,
    }
    #[derive(Clone, PartialEq, Message)]
    struct Service {
        #[prost(string, optional, tag = "1")]
        name: Option<String>,
    }
    let set = FileDescriptorSet::decode(ultra_proto::FILE_DESCRIPTOR_SET).expect("decodes");
    let mut services: Vec<String> = set
        .file
        .iter()
        .filter(|f| f.package.as_deref() == Some("ultra.v1"))
        .flat_map(|f| f.service.iter().filter_map(|s| s.name.clone()))
        .collect();
    services.sort();
    assert_eq!(
        services,
        [
            "AnalyticsService",
            "BillingService",
            "ErasureService",
            "FilesService",
            "OrganizationsService",
            "PrivacyService",
            "ResultsService",
            "SimulationService",
            "SsoService",
            "UsersService"
        ]
    );
}
