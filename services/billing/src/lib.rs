//! Billing service: usage ledger from simulation events.
