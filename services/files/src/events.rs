//! Events the files service produces (through its outbox). `size_bytes` lets billing meter
//! storage without reading this service's tables.

use ultra_proto::v1::event::Payload;
use ultra_proto::v1::{Event, ModelDeleted, ModelUploaded};

pub const MODEL_UPLOADED: &str = "model.uploaded";
pub const MODEL_DELETED: &str = "model.deleted";

pub fn model_uploaded(org_id: &str, user_id: &str, model_id: &str, size_bytes: u64) -> Event {
    ultra_bus::new_event(
        MODEL_UPLOADED,
        org_id,
        user_id,
        Payload::ModelUploaded(ModelUploaded {
            model_id: model_id.to_owned(),
            size_bytes,
        }),
    )
}

pub fn model_deleted(org_id: &str, user_id: &str, model_id: &str, size_bytes: u64) -> Event {
    ultra_bus::new_event(
        MODEL_DELETED,
        org_id,
        user_id,
        Payload::ModelDeleted(ModelDeleted {
            model_id: model_id.to_owned(),
            size_bytes,
        }),
    )
}
