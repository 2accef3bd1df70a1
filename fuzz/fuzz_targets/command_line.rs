#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    dualscore_fuzz::command_line::run(bytes);
});
