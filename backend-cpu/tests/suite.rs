//! The shared backend test suite, instantiated for the CPU backend.
