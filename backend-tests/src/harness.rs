//! Running properties, and moving data between the host, the backend under test and the oracle.
//!
//! Every property draws its inputs on the host in f64. They are rounded to the element type `T`
//! and uploaded to the backend under test; the *rounded* values, widened back to f64 (exactly),
//! are what the oracle sees. The comparison therefore measures only the kernel's own error, not
//! the rounding of its inputs.

use dualscore_core::backend::reference::Reference;
use dualscore_core::{Backend, Error, Float, Result};
use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestCaseResult, TestRunner};
use std::fmt::Debug;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// The oracle: the naive f64 reference backend of `dualscore-core`.
pub type Oracle = Reference;

/// A buffer of the oracle (always f64).
pub type OracleBuf = <Reference as Backend>::Storage<f64>;

/// The oracle's handle.
pub fn oracle() -> Oracle {
    Reference
}

/// Cases per property when `PROPTEST_CASES` is not set.
pub const DEFAULT_CASES: u32 = 256;

/// The number of cases per property: `PROPTEST_CASES` when set (and valid), else
/// [`DEFAULT_CASES`].
pub fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_CASES)
}

thread_local! {
    static MIN_CASES: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Runs `f` with at least `min` cases per property on the current thread, whatever
/// `PROPTEST_CASES` says: for tests that must find a failure (the suite's own sensitivity
/// tests).
pub fn with_min_cases<R>(min: u32, f: impl FnOnce() -> R) -> R {
    struct Restore(u32);
    impl Drop for Restore {
        fn drop(&mut self) {
            MIN_CASES.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(MIN_CASES.with(|c| c.replace(min)));
    f()
}

/// The seed of every property's random cases unless `PROPTEST_RNG_SEED` says otherwise: a run
/// of the suite is reproducible, so a failure seen once is seen again (set `PROPTEST_RNG_SEED`
/// to explore other cases).
pub const DEFAULT_RNG_SEED: u64 = 0x5eed_2026;

/// The runner configuration: proptest's defaults (which honour its `PROPTEST_*` environment
/// variables) with [`cases`] cases, the fixed seed [`DEFAULT_RNG_SEED`] unless
/// `PROPTEST_RNG_SEED` is set, and no failure-persistence files (the suite runs from other
/// crates, where proptest cannot tell which source file a property came from; the minimal
/// failing input is printed instead).
pub fn config() -> Config {
    let defaults = Config::default();
    let rng_seed = if std::env::var_os("PROPTEST_RNG_SEED").is_some() {
        defaults.rng_seed
    } else {
        RngSeed::Fixed(DEFAULT_RNG_SEED)
    };
    Config {
        cases: cases().max(MIN_CASES.with(|c| c.get())),
        failure_persistence: None,
        rng_seed,
        ..defaults
    }
}

/// Runs the property `test` over `strategy`; on failure, panics with `name`, the reason and
/// proptest's minimal failing input.
pub fn check<S>(name: &str, strategy: S, test: impl Fn(S::Value) -> TestCaseResult)
where
    S: Strategy,
    S::Value: Debug,
{
    let mut runner = TestRunner::new(config());
    if let Err(err) = runner.run(&strategy, test) {
        panic!("property `{name}` failed.\n{err}");
    }
}

/// Turns a kernel's unexpected error into a test failure naming `what`.
pub fn ok<R>(what: &str, result: Result<R>) -> std::result::Result<R, TestCaseError> {
    result.map_err(|e| TestCaseError::fail(format!("{what}: unexpected error: {e}")))
}

/// Runs `f`, turning a panic into a test failure that names `what`.
pub fn no_panic<R>(what: &str, f: impl FnOnce() -> R) -> std::result::Result<R, TestCaseError> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".to_string());
        TestCaseError::fail(format!(
            "{what}: panicked instead of returning a result: {msg}"
        ))
    })
}

/// Runs a kernel of the backend under test: a panic or an error fails the case.
pub fn run_ok<R>(
    what: &str,
    f: impl FnOnce() -> Result<R>,
) -> std::result::Result<R, TestCaseError> {
    ok(what, no_panic(what, f)?)
}

/// Host values rounded to `T`.
pub fn round<T: Float>(values: &[f64]) -> Vec<T> {
    values.iter().map(|&v| T::of_f64(v)).collect()
}

/// Host values widened to f64 (exact).
pub fn widen<T: Float>(values: &[T]) -> Vec<f64> {
    values.iter().map(|v| v.as_f64()).collect()
}

/// Absolute values.
pub fn abs(values: &[f64]) -> Vec<f64> {
    values.iter().map(|v| v.abs()).collect()
}

/// An input prepared for both sides: rounded to `T` for the backend, and the same rounded
/// values in f64 for the oracle.
#[derive(Clone, Debug)]
pub struct Input<T> {
    /// What the backend under test gets.
    pub dev: Vec<T>,
    /// What the oracle gets: `dev` widened to f64.
    pub exact: Vec<f64>,
}

impl<T: Float> Input<T> {
    /// Rounds `values` to `T`.
    pub fn new(values: &[f64]) -> Self {
        let dev: Vec<T> = round(values);
        let exact = widen(&dev);
        Input { dev, exact }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.dev.len()
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.dev.is_empty()
    }

    /// Uploads `dev` to the backend under test.
    pub fn upload<B: Backend>(
        &self,
        backend: &B,
    ) -> std::result::Result<B::Storage<T>, TestCaseError> {
        run_ok("upload", || backend.upload(&self.dev))
    }

    /// Uploads `exact` to the oracle.
    pub fn oracle(&self) -> std::result::Result<OracleBuf, TestCaseError> {
        oracle_up(&self.exact)
    }

    /// Uploads `|exact|` to the oracle (for the magnitude of the terms of a sum).
    pub fn oracle_abs(&self) -> std::result::Result<OracleBuf, TestCaseError> {
        oracle_up(&abs(&self.exact))
    }
}

/// Uploads f64 values to the oracle.
pub fn oracle_up(values: &[f64]) -> std::result::Result<OracleBuf, TestCaseError> {
    ok("oracle upload", oracle().upload(values))
}

/// Downloads an oracle buffer.
pub fn oracle_down(buf: &OracleBuf) -> std::result::Result<Vec<f64>, TestCaseError> {
    ok("oracle download", oracle().download(buf))
}

/// Runs an oracle kernel and downloads its output; an error of the oracle on a valid input
/// fails the case (it means the oracle or the suite is wrong).
pub fn oracle_run(
    what: &str,
    f: impl FnOnce(&Oracle) -> Result<OracleBuf>,
) -> std::result::Result<Vec<f64>, TestCaseError> {
    let out = run_ok(&format!("oracle {what}"), || f(&oracle()))?;
    oracle_down(&out)
}

/// Downloads a buffer of the backend under test, checking that both `len` and the download
/// report `expected` elements.
pub fn fetch<B: Backend, T: Float>(
    backend: &B,
    what: &str,
    storage: &B::Storage<T>,
    expected: usize,
) -> std::result::Result<Vec<T>, TestCaseError> {
    let len = no_panic(what, || backend.len(storage))?;
    if len != expected {
        return Err(TestCaseError::fail(format!(
            "{what}: output holds {len} elements, expected {expected}"
        )));
    }
    let host = run_ok(&format!("{what} (download)"), || backend.download(storage))?;
    if host.len() != expected {
        return Err(TestCaseError::fail(format!(
            "{what}: download returned {} elements, expected {expected}",
            host.len()
        )));
    }
    Ok(host)
}

/// Runs a kernel of the backend under test and downloads its output of `expected` elements.
pub fn dev_run<B: Backend, T: Float>(
    backend: &B,
    what: &str,
    expected: usize,
    f: impl FnOnce(&B) -> Result<B::Storage<T>>,
) -> std::result::Result<Vec<T>, TestCaseError> {
    let out = run_ok(what, || f(backend))?;
    fetch(backend, what, &out, expected)
}

/// Whether two errors are the same variant of [`Error`].
pub fn same_variant(a: &Error, b: &Error) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

/// The name of an error's variant, for messages.
pub fn variant_name(e: &Error) -> &'static str {
    match e {
        Error::ShapeMismatch { .. } => "ShapeMismatch",
        Error::InvalidArgument { .. } => "InvalidArgument",
        Error::StorageLength { .. } => "StorageLength",
        Error::Backend { .. } => "Backend",
    }
}
