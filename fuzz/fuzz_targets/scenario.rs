#![no_main]
//! The scenario parser and validator must never panic, whatever the bytes: every failure is a ScenarioError.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(e) = cutover::config::scenario::Scenario::load_str(text, "fuzz.yaml", std::path::Path::new(".")) {
            // Rendering the error (line lookup, suggestions) must not panic either.
            let _ = e.to_string();
        }
        let _ = cutover::config::yaml::locate(text, "traffic.models[1].weight");
    }
});
