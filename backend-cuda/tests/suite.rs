//! The shared backend test suite, instantiated for the CUDA backend: every kernel against the
//! reference backend, invalid inputs, random numbers, repeatability, and the gradient
//! properties to second order. Without a device each test prints why it skipped and passes
//! (see `dualscore_cuda::testing`); built with the `emulate` feature it runs the kernels on
//! the host.

dualscore_backend_tests::backend_test_suite!(
    cuda,
    optional = dualscore_cuda::testing::device(),
    normal_ulps = 12,
);
