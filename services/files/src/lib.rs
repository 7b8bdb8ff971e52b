//! Files service: model upload, encryption at rest, validation.
