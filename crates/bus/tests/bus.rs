//! The in-process bus keeps the bus' promises (`behaviour`, shared with the Redis tests).

mod behaviour;

use ultra_bus::Bus;

#[tokio::test]
async fn every_group_gets_every_event() {
    behaviour::every_group_gets_every_event(&Bus::in_process()).await;
}

#[tokio::test]
async fn a_group_created_later_sees_retained_events() {
    behaviour::a_group_created_later_sees_retained_events(&Bus::in_process()).await;
}

#[tokio::test]
async fn a_dropped_delivery_is_redelivered_until_acked() {
    behaviour::a_dropped_delivery_is_redelivered_until_acked(&Bus::in_process()).await;
}

#[tokio::test]
async fn consumers_of_one_group_share_its_queue() {
    behaviour::consumers_of_one_group_share_its_queue(&Bus::in_process()).await;
}

#[tokio::test]
async fn close_ends_subscriptions() {
    behaviour::close_ends_subscriptions(&Bus::in_process()).await;
}

#[tokio::test]
async fn pubsub_reaches_current_listeners_only() {
    behaviour::pubsub_reaches_current_listeners_only(&Bus::in_process()).await;
}

#[tokio::test]
async fn the_open_in_process_bus_is_ready() {
    assert!(Bus::in_process().is_ready().await);
}
