//! Async traits that drivers (Kubernetes, in-memory simulation, your operator) implement to carry
//! out the actions the machines decide.
