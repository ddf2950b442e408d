//! Test support: fixtures computed by torchvision at test time.
//!
//! [`fixture`] runs a `tests/golden_*.py` script in the project's Python environment (the
//! `python` that `scripts/libtorch-env.sh` puts first on `PATH`, the one tch was built
//! against), after installing torchvision 0.26.0 (the release built for torch 2.11.0) into it
//! when it is missing, under the same lock the torch installer takes. The script writes into a
//! directory named after the hash of its own text and of the golden modules it imports, under
//! `target/golden/`, so an unchanged script runs once, and a changed one runs again; the
//! directory appears whole (written beside, then renamed) or not at all.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The torchvision release built for the project's torch 2.11.0.
pub const TORCHVISION: &str = "0.26.0";

/// One installer or generator at a time within a test binary.
static LOCK: Mutex<()> = Mutex::new(());

fn python() -> String {
    std::env::var("SWEEP_PYTHON").unwrap_or_else(|_| "python".into())
}

fn run(cmd: &mut Command, what: &str) -> Result<String, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("{what}: cannot start {cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{what}: {cmd:?} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Makes sure `torchvision==0.26.0` imports in the project's Python environment.
pub fn ensure_torchvision() -> Result<(), String> {
    let check = format!(
        "import torchvision,sys; sys.exit(torchvision.__version__.split('+')[0] != '{TORCHVISION}')"
    );
    if run(
        Command::new(python()).args(["-c", &check]),
        "torchvision check",
    )
    .is_ok()
    {
        return Ok(());
    }
    let prefix = run(
        Command::new(python()).args(["-c", "import sys; print(sys.prefix)"]),
        "python prefix",
    )?;
    let lock = Path::new(prefix.trim())
        .parent()
        .map(|p| p.join(".install.lock"))
        .ok_or("the python environment has no parent directory")?;
    let spec = format!("torchvision=={TORCHVISION}");
    run(
        Command::new("flock").arg(&lock).args([
            &python(),
            "-m",
            "pip",
            "install",
            "--quiet",
            &spec,
        ]),
        "installing torchvision",
    )?;
    run(
        Command::new(python()).args(["-c", &check]),
        "torchvision check",
    )
    .map(|_| ())
    .map_err(|e| format!("{spec} is still not importable after installing it: {e}"))
}

/// The output directory of `tests/<script>` (run once per version of the script's text).
pub fn fixture(script: &str) -> Result<PathBuf, String> {
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = root.join("tests").join(script);
    let text = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    // The script and the golden modules it imports (`from golden_x import …`): a change to
    // either makes new outputs.
    let mut hasher = Sha256::new();
    hasher.update(&text);
    for line in String::from_utf8_lossy(&text).lines() {
        let module = line
            .strip_prefix("from golden_")
            .and_then(|l| l.split_whitespace().next());
        if let Some(module) = module {
            let dep = root.join("tests").join(format!("golden_{module}.py"));
            hasher.update(std::fs::read(&dep).map_err(|e| format!("{}: {e}", dep.display()))?);
        }
    }
    let hash = hasher.finalize();
    let hex: String = hash.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let stem = script.trim_end_matches(".py");
    let dir = root
        .join("target")
        .join("golden")
        .join(format!("{stem}-{hex}"));
    if dir.is_dir() {
        return Ok(dir);
    }
    ensure_torchvision()?;
    let tmp = dir.with_extension(format!("tmp{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    run(Command::new(python()).arg(&path).arg(&tmp), script)?;
    std::fs::rename(&tmp, &dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // Outputs of earlier versions of the script are stale.
    let parent = dir.parent().expect("under target/golden");
    for old in std::fs::read_dir(parent).into_iter().flatten().flatten() {
        let name = old.file_name().to_string_lossy().into_owned();
        if name.starts_with(&format!("{stem}-")) && old.path() != dir {
            let _ = std::fs::remove_dir_all(old.path());
        }
    }
    Ok(dir)
}
