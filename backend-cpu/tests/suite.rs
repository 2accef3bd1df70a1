//! The shared backend test suite, instantiated for the CPU backend: every kernel against the
//! reference backend, invalid inputs, random numbers, and bitwise reproducibility across 1, 2
//! and 3 threads.

dualscore_backend_tests::backend_test_suite!(
    cpu,
    dualscore_cpu::Cpu::new(),
    threads = |n| dualscore_cpu::Cpu::with_threads(n).unwrap()
);
