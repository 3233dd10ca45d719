//! Policy YAML: the fuzzed bytes as one policy file, through the spanned YAML loader
//! (`gatehouse::yaml::parse_documents`) and the whole compiler (`gatehouse::compile_dir` on a
//! directory holding only that file). Nothing may panic, and a policy that compiles must give
//! a table the filter loads.
//!
//! Inputs naming `/dev/`, `/proc/` or `/sys/` are skipped: key files are read at compile time,
//! and `jwksFile: /dev/zero` would only measure how long reading forever takes.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use gatehouse::{compile_dir, table_json, CompileOptions};
use gatehouse_filter::Engine;
use libfuzzer_sys::fuzz_target;

fn dir() -> &'static PathBuf {
    static D: OnceLock<PathBuf> = OnceLock::new();
    D.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("gatehouse-fuzz-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&d);
        d
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if ["/dev/", "/proc/", "/sys/"]
        .iter()
        .any(|p| text.contains(p))
    {
        return;
    }
    let _ = gatehouse::yaml::parse_documents(text);
    let file = dir().join("policy.yaml");
    if std::fs::write(&file, data).is_err() {
        return;
    }
    let options = CompileOptions { now: 1_800_000_000 };
    if let Ok(compiled) = compile_dir(dir(), &options) {
        let json = match table_json(&compiled.table) {
            Ok(json) => json,
            Err(e) => panic!("a compiled table does not serialize: {e}"),
        };
        if let Err(e) = Engine::from_json(json.as_bytes()) {
            panic!("compiled table refused by the filter: {e}");
        }
    }
});
