//! Database pools (SQLite, PostgreSQL), embedded migrations, transactional outbox, object storage.
