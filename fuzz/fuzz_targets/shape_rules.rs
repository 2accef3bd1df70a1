#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|query: dualscore_fuzz::shape_rules::Query| {
    dualscore_fuzz::shape_rules::run(&query);
});
