//! Simulation service: submit, queue, run, progress, cancel.
