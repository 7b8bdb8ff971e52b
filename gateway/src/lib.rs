//! HTTPS REST gateway in front of the services.
