//! The suite instantiated for the reference backend itself: it checks the suite (every property
//! must hold when the backend is the oracle) and the oracle's error paths (every invalid input
//! is refused, with the shared rules' error variant).

use dualscore_core::backend::reference::Reference;

dualscore_backend_tests::backend_test_suite!(reference, Reference, threads = |_threads| Reference);
