#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|program: Vec<dualscore_fuzz::tensor_program::Step>| {
    dualscore_fuzz::tensor_program::run(&program);
});
