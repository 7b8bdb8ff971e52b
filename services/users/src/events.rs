//! Events the users service produces (through its outbox).

use ultra_proto::v1::event::Payload;
use ultra_proto::v1::{Event, UserRegistered};

pub const USER_REGISTERED: &str = "user.registered";

pub fn user_registered(org_id: &str, user_id: &str, email: &str, new_organization: bool) -> Event {
    ultra_bus::new_event(
        USER_REGISTERED,
        org_id,
        user_id,
        Payload::UserRegistered(UserRegistered {
            email: email.to_owned(),
            new_organization,
        }),
    )
}
