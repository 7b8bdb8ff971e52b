//! Analytics service: usage reports from events.
