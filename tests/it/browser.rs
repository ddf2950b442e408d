//! Headless Chromium for the report tests: found or installed once (Debian's `chromium`, as
//! root), and run with no network at all (its own network namespace when the kernel allows,
//! and every host name unresolvable in any case).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

static CHROMIUM: OnceLock<Option<PathBuf>> = OnceLock::new();

/// The browser, installed when missing (as root, with apt-get). `None` only where installing
/// is impossible (not root, no apt-get) outside CI; in CI that is a failure.
pub fn chromium() -> Option<&'static Path> {
    CHROMIUM.get_or_init(find_or_install).as_deref()
}

fn find() -> Option<PathBuf> {
    ["chromium", "chromium-browser"].iter().find_map(|name| {
        let out = Command::new("sh")
            .args(["-c", &format!("command -v {name}")])
            .output()
            .ok()?;
        let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (out.status.success() && !path.is_empty()).then(|| PathBuf::from(path))
    })
}

fn find_or_install() -> Option<PathBuf> {
    if let Some(p) = find() {
        return Some(p);
    }
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let apt = Command::new("sh")
        .args(["-c", "command -v apt-get"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !root || !apt {
        let why = format!(
            "chromium is not installed and cannot be installed here ({})",
            if root { "no apt-get" } else { "not root" }
        );
        assert!(std::env::var_os("CI").is_none(), "{why}");
        eprintln!("skipping the browser checks: {why}");
        return None;
    }
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "chromium"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .output()
            .expect("run apt-get")
    };
    eprintln!("installing chromium (apt-get install -y chromium) for the browser checks");
    let mut out = install();
    if !out.status.success() {
        let update = Command::new("apt-get")
            .arg("update")
            .output()
            .expect("run apt-get");
        assert!(
            update.status.success(),
            "apt-get update failed: {}",
            String::from_utf8_lossy(&update.stderr)
        );
        out = install();
    }
    assert!(
        out.status.success(),
        "apt-get install -y chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(find().expect("chromium is on PATH after installing it"))
}

/// What one headless run left: stdout (the DOM with `--dump-dom`) and the console messages.
pub struct Run {
    pub stdout: String,
    pub console: Vec<String>,
}

/// Opens `page` (a local file) headless with `args` added; no network reachable.
pub fn open(page: &Path, args: &[&str], profile: &Path) -> Run {
    let browser = chromium().expect("checked by the caller");
    let url = format!(
        "file://{}",
        page.canonicalize().expect("the page exists").display()
    );
    let flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--proxy-server=127.0.0.1:9",
        "--enable-logging=stderr",
        "--v=0",
    ];
    let profile = format!("--user-data-dir={}", profile.display());
    // A network namespace of its own: not even loopback leads anywhere.
    let isolated = Command::new("unshare")
        .args(["-n", "true"])
        .output()
        .is_ok_and(|o| o.status.success());
    let mut cmd = if isolated {
        let mut c = Command::new("unshare");
        c.arg("-n").arg(browser);
        c
    } else {
        Command::new(browser)
    };
    let out = cmd
        .args(flags)
        .arg(profile)
        .args(args)
        .arg(&url)
        .output()
        .expect("start chromium");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "chromium failed on {url}: {stderr}");
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        // Chromium logs every console message (log, warning, error, uncaught exception,
        // blocked fetch) as a `CONSOLE` line; those of its own UI pages come from chrome://.
        console: stderr
            .lines()
            .filter(|l| l.contains(":CONSOLE") && !l.contains("source: chrome://"))
            .map(String::from)
            .collect(),
    }
}
