//! [`backend_test_suite!`](crate::backend_test_suite): one `#[test]` per property and element
//! type for a backend.

/// Instantiates the whole suite for a backend.
///
/// ```text
/// dualscore_backend_tests::backend_test_suite!(
///     cpu,
///     dualscore_cpu::Cpu::new(),
///     threads = |n| dualscore_cpu::Cpu::with_threads(n).unwrap()
/// );
/// ```
///
/// expands into a module `cpu` with one `#[test]` per property and element type (`conv2d_f32`,
/// `conv2d_f64`, `binary_errors_f32`, ...), each calling the generic function of this crate
/// of the same name with a backend made by the second argument. The optional
/// `threads = ...` argument, a closure from a thread count to a backend, adds the
/// thread-determinism tests (`threads_matmul_f32`, ...), which compare 1, 2 and 3 threads.
/// The optional `normal_ulps = N` argument (last, after `threads` or `optional`) lets
/// `random_normal_f32` / `random_normal_f64` differ from the library's sequence by up to `N`
/// units in the last place of the element type
/// ([`random_normal_within_ulps`](crate::random_normal_within_ulps)); without it they
/// demand the same bits. The uniform numbers are exact in every case.
/// Names used by the expressions are resolved in the invoking module. For the reference
/// backend itself (which checks the suite):
///
/// ```
/// use dualscore_core::backend::reference::Reference;
///
/// dualscore_backend_tests::backend_test_suite!(reference, Reference);
/// // With every option: a backend whose normal numbers may be 2 ulps off.
/// dualscore_backend_tests::backend_test_suite!(
///     reference_options,
///     Reference,
///     threads = |_threads| Reference,
///     normal_ulps = 2,
/// );
/// # fn main() {}
/// ```
///
/// A backend that may be absent (a GPU) is given as `optional = expr`, an expression of type
/// `Option<B>`: each test runs when it is `Some` and returns early (passing) when it is
/// `None`; the expression says why it skipped.
#[macro_export]
macro_rules! backend_test_suite {
    ($name:ident, optional = $maybe:expr $(, normal_ulps = $ulps:expr)? $(,)?) => {
        $crate::backend_test_suite!(@module $name, $maybe, [], [$($ulps)?]);
    };
    ($name:ident, $backend:expr, threads = $threads:expr $(, normal_ulps = $ulps:expr)? $(,)?) => {
        $crate::backend_test_suite!(@module $name, Some($backend), [$threads], [$($ulps)?]);
    };
    ($name:ident, $backend:expr $(, normal_ulps = $ulps:expr)? $(,)?) => {
        $crate::backend_test_suite!(@module $name, Some($backend), [], [$($ulps)?]);
    };
    (@module $name:ident, $maybe:expr, [$($threads:expr)?], [$($ulps:expr)?]) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            /// The backend under test, or `None` when it is absent (the test then passes).
            fn backend() -> Option<impl $crate::__private::Backend> {
                $maybe
            }

            $crate::__backend_tests! {
                memory_f32, memory_f64 => memory;
                cast_f32, cast_f64 => cast;
                unary_f32, unary_f64 => unary;
                binary_f32, binary_f64 => binary;
                reduce_f32, reduce_f64 => reduce;
                center_with_variance_f32, center_with_variance_f64 => center_with_variance;
                broadcast_to_f32, broadcast_to_f64 => broadcast_to;
                matmul_f32, matmul_f64 => matmul;
                conv2d_f32, conv2d_f64 => conv2d;
                conv_transpose2d_f32, conv_transpose2d_f64 => conv_transpose2d;
                conv2d_weight_grad_f32, conv2d_weight_grad_f64 => conv2d_weight_grad;
                permute_f32, permute_f64 => permute;
                concat_f32, concat_f64 => concat;
                slice_f32, slice_f64 => slice;
                pad_f32, pad_f64 => pad;
                flip_f32, flip_f64 => flip;
                random_uniform_f32, random_uniform_f64 => random_uniform;
                repeatable_f32, repeatable_f64 => repeatable;
                run_closures_f32, run_closures_f64 => run_closures;
                large_elementwise_f32, large_elementwise_f64 => large_elementwise;
                large_reduce_f32, large_reduce_f64 => large_reduce;
                large_layout_f32, large_layout_f64 => large_layout;
                large_matmul_f32, large_matmul_f64 => large_matmul;
                large_conv_f32, large_conv_f64 => large_conv;
                conv_paths_f32, conv_paths_f64 => conv_paths;
                binary_errors_f32, binary_errors_f64 => binary_errors;
                reduce_errors_f32, reduce_errors_f64 => reduce_errors;
                center_with_variance_errors_f32, center_with_variance_errors_f64 => center_with_variance_errors;
                broadcast_to_errors_f32, broadcast_to_errors_f64 => broadcast_to_errors;
                matmul_errors_f32, matmul_errors_f64 => matmul_errors;
                conv2d_errors_f32, conv2d_errors_f64 => conv2d_errors;
                conv_transpose2d_errors_f32, conv_transpose2d_errors_f64 => conv_transpose2d_errors;
                conv2d_weight_grad_errors_f32, conv2d_weight_grad_errors_f64 => conv2d_weight_grad_errors;
                permute_errors_f32, permute_errors_f64 => permute_errors;
                concat_errors_f32, concat_errors_f64 => concat_errors;
                slice_errors_f32, slice_errors_f64 => slice_errors;
                pad_errors_f32, pad_errors_f64 => pad_errors;
                flip_errors_f32, flip_errors_f64 => flip_errors;
            }

            $crate::__normal_tests! {
                random_normal_f32, random_normal_f64 => 0 $(+ $ulps)?;
            }

            $crate::__gradient_tests! {
                gradient_unary => unary;
                gradient_binary => binary;
                gradient_reduce => reduce;
                gradient_center => center;
                gradient_matmul => matmul;
                gradient_conv2d => conv2d;
                gradient_conv_transpose2d => conv_transpose2d;
                gradient_layout => layout;
                gradient_adjoints => adjoints;
                gradient_composition => composition;
                gradient_jvp => jvp;
            }

            $(
                /// A backend with `n` threads.
                fn with_threads(n: usize) -> impl $crate::__private::Backend {
                    let make = $threads;
                    make(n)
                }

                $crate::__backend_thread_tests! {
                    threads_matmul_f32, threads_matmul_f64 => threads_matmul;
                    threads_conv2d_f32, threads_conv2d_f64 => threads_conv2d;
                    threads_sum_f32, threads_sum_f64 => threads_sum;
                }
            )?
        }
    };
}

/// Expands a table of `test_f32, test_f64 => property;` into `#[test]`s on `backend()`.
#[doc(hidden)]
#[macro_export]
macro_rules! __backend_tests {
    ($($f32:ident, $f64:ident => $property:ident;)*) => {
        $(
            #[test]
            fn $f32() {
                if let Some(backend) = backend() {
                    $crate::$property::<_, f32>(&backend);
                }
            }

            #[test]
            fn $f64() {
                if let Some(backend) = backend() {
                    $crate::$property::<_, f64>(&backend);
                }
            }
        )*
    };
}

/// Expands a table of `test_f32, test_f64 => check;` into `#[test]`s on `with_threads`.
#[doc(hidden)]
#[macro_export]
macro_rules! __backend_thread_tests {
    ($($f32:ident, $f64:ident => $check:ident;)*) => {
        $(
            #[test]
            fn $f32() {
                $crate::$check::<_, f32>(with_threads);
            }

            #[test]
            fn $f64() {
                $crate::$check::<_, f64>(with_threads);
            }
        )*
    };
}

/// The normal-number property within the backend's `normal_ulps` (0, bit for bit, by default).
#[doc(hidden)]
#[macro_export]
macro_rules! __normal_tests {
    ($f32:ident, $f64:ident => $ulps:expr;) => {
        #[test]
        fn $f32() {
            if let Some(backend) = backend() {
                $crate::random_normal_within_ulps::<_, f32>(&backend, $ulps);
            }
        }

        #[test]
        fn $f64() {
            if let Some(backend) = backend() {
                $crate::random_normal_within_ulps::<_, f64>(&backend, $ulps);
            }
        }
    };
}

/// The gradient properties ([`crate::gradients`]), in f64 only: finite differences need it.
#[doc(hidden)]
#[macro_export]
macro_rules! __gradient_tests {
    ($($test:ident => $property:ident;)*) => {
        $(
            #[test]
            fn $test() {
                if let Some(backend) = backend() {
                    $crate::gradients::$property(&backend);
                }
            }
        )*
    };
}
