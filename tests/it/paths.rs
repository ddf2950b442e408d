//! Hostile paths: a sweep directory and a spec path holding spaces, quotes, `$(...)`,
//! backquotes, a newline and bytes that are not UTF-8 work locally like any other (nothing in
//! them is run by a shell), and `status`, `table` and `resume` find the sweep again.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::util::{run, sweep, temp_dir};

const SPEC: &str = "name: paths\nbase: {fake: {iterations: 3}}\nvariants:\n  - {name: a}\n  - {name: b, set: {fake.memory_mib: 3}}\nseeds: [0]\ntable: {metrics: [AP], decimals: 4}\n";

#[test]
fn hostile_directory_and_spec_names_work_locally() {
    let dir = temp_dir("paths");
    // A marker that a shell expanding any of these names would create.
    let marker = dir.join("pwned");
    let hostile = format!(
        "a b 'q' \"d\" $(touch {m}) `touch {m}` ;touch {m}\nnl ",
        m = marker.display()
    );
    let mut name = hostile.as_bytes().to_vec();
    name.extend_from_slice(b"\xff\xfe");
    let base: PathBuf = dir.join(OsStr::from_bytes(&name));
    std::fs::create_dir_all(&base).unwrap();
    let spec = base.join(OsStr::from_bytes(b"spec $(x) \xe9.yaml"));
    std::fs::write(&spec, SPEC).unwrap();
    let out = base.join(OsStr::from_bytes(b"out `y` \xff"));

    let (code, table, err) = run(sweep().arg("run").arg(&spec).arg("--out").arg(&out));
    assert_eq!(code, 0, "{err}");
    assert!(
        table.contains("| a |") && table.contains("| b |"),
        "{table}"
    );
    let (code, text, err) = run(sweep().arg("status").arg(&out));
    assert_eq!(code, 0, "{err}");
    assert!(text.starts_with("paths: 2 done"), "{text}");
    std::fs::remove_file(
        std::fs::read_dir(out.join("jobs"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path()
            .join("result.json"),
    )
    .unwrap();
    let (code, _, err) = run(sweep().arg("resume").arg(&out));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("1 done, 1 already done"), "{err}");
    let (code, _, err) = run(sweep().arg("table").arg(&out));
    assert_eq!(code, 0, "{err}");
    assert!(!marker.exists(), "a shell ran part of a path");
}
