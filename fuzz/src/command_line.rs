//! The command line on arbitrary arguments: parsing gives a command or a usage error, never a
//! panic.

use clap::Parser;
use dualscore::app::Cli;

/// Splits `bytes` into arguments at NUL bytes and parses them after the program name.
pub fn run(bytes: &[u8]) {
    let args = std::iter::once("dualscore".to_string()).chain(
        bytes
            .split(|&b| b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned()),
    );
    let _ = Cli::try_parse_from(args);
}

/// Valid command lines to start from.
pub fn seeds() -> Vec<Vec<u8>> {
    [
        "train\0--train\0x.npy\0--steps\x0010\0--patch\x0016",
        "nll\0--model\0run\0--test\0t.npy\0--json",
        "dim\0--model\0m.json\0--test\0t.npy\0--points\x005",
        "sample\0--model\0run\0--count\x004",
        "demo\0--quick",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}
