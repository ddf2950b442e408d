//! Running Slurm's client commands (sbatch, squeue, scontrol, scancel) and building what
//! sbatch is given. The commands run in their own process group, so a Ctrl-C in the terminal
//! reaches only the orchestrator (which then decides what to cancel), and under a deadline, so
//! a controller that does not answer cannot hang the sweep.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::SlurmOptions;
use crate::execute::Launch;

/// Exit code of the batch script when the job cannot see its directory or the sweep binary
/// on its node (not a worker exit code: those are in `launch::protocol::exit`).
pub const NOT_SHARED: i32 = 97;

/// Deadlines: sbatch may wait on a busy controller; queries should be quick.
pub const SUBMIT_TIMEOUT: Duration = Duration::from_secs(120);
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a Slurm command did not give an answer.
#[derive(Debug)]
pub enum Failure {
    /// The program is not installed (or cannot be run).
    Missing(std::io::Error),
    /// It ran and failed; Slurm's own message (stderr, else stdout).
    Refused(String),
    /// No answer within the deadline (the command was killed).
    TimedOut(Duration),
}

impl Failure {
    pub fn message(&self) -> String {
        match self {
            Failure::Missing(e) => e.to_string(),
            Failure::Refused(m) => m.clone(),
            Failure::TimedOut(d) => format!("no answer within {} s", d.as_secs()),
        }
    }
}

/// Runs `program args` (no shell: each argument is passed as it is) and returns its stdout.
pub fn run<S: AsRef<OsStr>>(
    program: &str,
    args: &[S],
    timeout: Duration,
) -> Result<String, Failure> {
    use std::os::unix::process::CommandExt;
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(Failure::Missing)?;
    let pid = child.id();
    // The output is read on a helper thread so a large answer cannot fill the pipe while we
    // wait on the deadline.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let output = match rx.recv_timeout(timeout) {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => return Err(Failure::Missing(e)),
        Err(_) => {
            // SAFETY: kill(2) on the child we started; the helper thread then reaps it.
            unsafe {
                libc::kill(pid as i32, libc::SIGKILL);
            }
            return Err(Failure::TimedOut(timeout));
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() {
        return Ok(stdout);
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let text = if stderr.trim().is_empty() {
        stdout.as_str()
    } else {
        &stderr
    };
    let message: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let message = if message.is_empty() {
        format!("exited with {}", output.status)
    } else {
        message.join("; ")
    };
    Err(Failure::Refused(message))
}

/// sbatch's arguments for one job: sweep's own options first, the user's `sbatch_args` after
/// them (so they win), the batch script last. Paths go as bytes (they may not be UTF-8), and
/// only in `--chdir` and the script: Slurm reads output file names as patterns (`%j`, and a
/// `\\` anywhere turns them off and is dropped), so it is given none, and the script opens
/// the job's output files itself.
pub fn sbatch_args(
    opts: &SlurmOptions,
    exe: &Path,
    launch: &Launch,
    comment: &str,
    token: &str,
    after: &[String],
) -> Vec<OsString> {
    let mut chdir = OsString::from("--chdir=");
    chdir.push(&launch.dir);
    let mut args = vec![
        "--parsable".to_string(),
        format!("--job-name=sweep-{}", launch.job),
        format!("--comment={comment}"),
        // The script opens the real ones (see batch_script).
        "--output=/dev/null".to_string(),
        "--error=/dev/null".to_string(),
        format!("--cpus-per-task={}", opts.cpus),
    ];
    if opts.gpus > 0 {
        args.push(format!("--gres=gpu:{}", opts.gpus));
    }
    for (flag, value) in [
        ("mem", &opts.mem),
        ("partition", &opts.partition),
        ("account", &opts.account),
        ("time", &opts.time),
        ("qos", &opts.qos),
    ] {
        if let Some(v) = value {
            args.push(format!("--{flag}={v}"));
        }
    }
    if !after.is_empty() {
        // A parent that fails makes Slurm drop the child (instead of leaving it pending
        // forever); the scheduler submits it again after the parent's next start.
        args.push(format!("--dependency=afterok:{}", after.join(":")));
        args.push("--kill-on-invalid-dep=yes".to_string());
    }
    args.extend(opts.sbatch_args.iter().cloned());
    args.push("--wrap".to_string());
    let mut args: Vec<OsString> = args.into_iter().map(OsString::from).collect();
    args.insert(3, chdir);
    args.push(batch_script(exe, launch, token, opts.gpus > 0));
    args
}

/// A path Slurm cannot be given: a line break would end sbatch's script line and squeue's
/// answer lines. Says which path, for the error.
pub fn unrepresentable(paths: &[&Path]) -> Option<String> {
    paths
        .iter()
        .find(|p| p.as_os_str().as_bytes().contains(&b'\n'))
        .map(|p| format!("the path {p:?} holds a line break, which Slurm cannot take (its script and its answers are read by lines): choose a sweep directory (--out) and a place for sweep without one"))
}

/// The job's body: open the job's output files in its directory (one `slurm-<id>.out` per
/// submission, whose absence after a failure shows the node did not write into this
/// directory; `stderr.log` accumulating like a local worker's), check that this node sees the
/// job dir (our fresh `slurm.json`, carrying this submission's token) and the worker binary,
/// then become the worker, so that Slurm's signals (scancel, the time limit) reach it
/// directly. Every path in it is one single-quoted word: nothing in a path is run.
fn batch_script(exe: &Path, launch: &Launch, token: &str, gpu: bool) -> OsString {
    let dir = launch.dir.as_os_str().as_bytes();
    let marker = [dir, b"/", super::record::FILE.as_bytes()].concat();
    let output = [dir, b"/slurm-"].concat();
    let stderr = [dir, b"/stderr.log"].concat();
    let exe = exe.as_os_str().as_bytes();
    let device = if gpu { "cuda" } else { "cpu" };
    let tail = format!(
        " --threads {} --device {device}\n",
        launch.placement.threads()
    );
    let code = NOT_SHARED.to_string();
    // One expression, so the quoted pieces live until they are joined.
    let script: Vec<u8> = [
        b"exec >>" as &[u8],
        &quote(&output),
        b"\"$SLURM_JOB_ID\".out 2>>",
        &quote(&stderr),
        b"\ngrep -qs ",
        &quote(token.as_bytes()),
        b" ",
        &quote(&marker),
        b" || { echo \"sweep: ",
        &text_in_double_quotes(&marker),
        b" is not visible on $(hostname): the sweep directory must be on a filesystem the Slurm nodes share\" >&2; exit ",
        code.as_bytes(),
        b"; }\n[ -x ",
        &quote(exe),
        b" ] || { echo \"sweep: the worker binary ",
        &text_in_double_quotes(exe),
        b" is not visible on $(hostname): it must be on a filesystem the Slurm nodes share\" >&2; exit ",
        code.as_bytes(),
        b"; }\nexec ",
        &quote(exe),
        b" run ",
        &quote(dir),
        tail.as_bytes(),
    ]
    .concat();
    OsString::from_vec(script)
}

/// A shell word that is exactly `s`.
fn quote(s: &[u8]) -> Vec<u8> {
    let mut q = vec![b'\''];
    for &b in s {
        if b == b'\'' {
            q.extend_from_slice(b"'\\''");
        } else {
            q.push(b);
        }
    }
    q.push(b'\'');
    q
}

/// `s` made safe inside a double-quoted shell string (for messages).
fn text_in_double_quotes(s: &[u8]) -> Vec<u8> {
    let mut t = Vec::with_capacity(s.len());
    for &b in s {
        if matches!(b, b'"' | b'\\' | b'$' | b'`') {
            t.push(b'\\');
        }
        t.push(b);
    }
    t
}

/// The job id in sbatch's `--parsable` answer (`id` or `id;cluster`).
pub fn parse_submitted(stdout: &str) -> Option<String> {
    let id = stdout.trim().split(';').next()?.trim();
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit() || b == b'_')).then(|| id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::launch::Placement;

    fn launch() -> Launch {
        Launch {
            job: "abc123".into(),
            dir: "/shared/it's here/jobs/abc123".into(),
            placement: Placement::Slurm {
                gpus: 1,
                threads: 3,
            },
            attempt: 1,
            after: Vec::new(),
        }
    }

    fn opts() -> SlurmOptions {
        SlurmOptions {
            partition: Some("gpu".into()),
            account: None,
            time: Some("1:00:00".into()),
            qos: None,
            gpus: 1,
            cpus: 3,
            mem: Some("8G".into()),
            sbatch_args: vec!["--constraint=a100".into()],
        }
    }

    fn text(args: Vec<OsString>) -> Vec<String> {
        args.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn the_request_follows_the_options_and_the_users_args_come_last() {
        let args = text(sbatch_args(
            &opts(),
            Path::new("/opt/sweep-worker"),
            &Launch {
                after: vec!["11".into(), "12".into()],
                ..launch()
            },
            "sweep:t0k",
            "t0k",
            &["11".into(), "12".into()],
        ));
        for want in [
            "--parsable",
            "--job-name=sweep-abc123",
            "--comment=sweep:t0k",
            "--cpus-per-task=3",
            "--gres=gpu:1",
            "--mem=8G",
            "--partition=gpu",
            "--time=1:00:00",
            "--dependency=afterok:11:12",
            "--kill-on-invalid-dep=yes",
            "--chdir=/shared/it's here/jobs/abc123",
            "--output=/dev/null",
            "--error=/dev/null",
        ] {
            assert!(
                args.iter().any(|a| a == want),
                "{want} missing from {args:?}"
            );
        }
        assert!(
            !args
                .iter()
                .any(|a| a.starts_with("--account") || a.starts_with("--qos")),
            "{args:?}"
        );
        let user = args.iter().position(|a| a == "--constraint=a100").unwrap();
        assert!(user > args.iter().position(|a| a == "--gres=gpu:1").unwrap());
        assert_eq!(args[args.len() - 2], "--wrap");
        let script = &args[args.len() - 1];
        assert!(script.contains("exec '/opt/sweep-worker' run '/shared/it'\\''s here/jobs/abc123' --threads 3 --device cuda"), "{script}");
        assert!(
            script.contains("grep -qs 't0k' '/shared/it'\\''s here/jobs/abc123/slurm.json' ||"),
            "{script}"
        );
    }

    #[test]
    fn a_cpu_only_job_asks_for_no_gpu_and_runs_the_worker_on_the_cpu() {
        let opts = SlurmOptions { gpus: 0, ..opts() };
        let args = text(sbatch_args(
            &opts,
            Path::new("/opt/sweep-worker"),
            &launch(),
            "c",
            "t",
            &[],
        ));
        assert!(
            !args
                .iter()
                .any(|a| a.starts_with("--gres") || a.starts_with("--dependency")),
            "{args:?}"
        );
        assert!(args.last().unwrap().contains("--device cpu"));
    }

    #[test]
    fn the_script_is_valid_shell_and_stops_with_97_when_the_marker_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let launch = Launch {
            dir: dir.path().join("job $(x) \"q\""),
            ..launch()
        };
        let script = batch_script(Path::new("/bin/true"), &launch, "tok", false);
        let sh = || {
            Command::new("sh")
                .arg("-c")
                .arg(&script)
                .env("SLURM_JOB_ID", "7")
                .output()
                .unwrap()
        };
        // No directory: its output files cannot be opened, and it stops before anything.
        let out = sh();
        assert!(!out.status.success(), "{out:?}");
        std::fs::create_dir_all(&launch.dir).unwrap();
        let out = sh();
        assert_eq!(out.status.code(), Some(NOT_SHARED));
        let stderr = std::fs::read_to_string(launch.dir.join("stderr.log")).unwrap();
        assert!(stderr.contains("is not visible on"), "{stderr}");
        assert!(launch.dir.join("slurm-7.out").exists());
        std::fs::write(launch.dir.join("slurm.json"), "{\"token\": \"tok\"}").unwrap();
        let out = sh();
        assert_eq!(out.status.code(), Some(0), "{out:?}");
    }

    #[test]
    fn hostile_paths_reach_the_worker_as_they_are_and_nothing_in_them_runs() {
        let tmp = tempfile::tempdir().unwrap();
        let pwned = tmp.path().join("pwned");
        let mut name = format!(
            "a b 'q' \"d\" $(touch {p}) `touch {p}` ;touch {p} %j %% \\ ",
            p = pwned.display()
        )
        .into_bytes();
        name.extend_from_slice(b"\xff\xfe");
        let dir = tmp.path().join(OsStr::from_bytes(&name));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("slurm.json"), "{\"token\": \"tok\"}").unwrap();
        let launch = Launch {
            dir: dir.clone(),
            ..launch()
        };
        // The worker's stand-in prints its arguments, one per line.
        let exe = dir.join("worker $(x)");
        std::fs::write(&exe, "#!/bin/sh\nprintf '%s\\n' \"$@\"\n").unwrap();
        std::fs::set_permissions(&exe, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let script = batch_script(&exe, &launch, "tok", false);
        let out = Command::new("sh")
            .arg("-c")
            .arg(&script)
            .env("SLURM_JOB_ID", "5")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let mut want = b"run\n".to_vec();
        want.extend_from_slice(dir.as_os_str().as_bytes());
        want.extend_from_slice(b"\n--threads\n3\n--device\ncpu\n");
        assert_eq!(std::fs::read(dir.join("slurm-5.out")).unwrap(), want);
        assert!(!pwned.exists(), "a shell ran part of a path");
        assert!(unrepresentable(&[&dir, &exe]).is_none());
        let broken = tmp.path().join("line\nbreak");
        let why = unrepresentable(&[&exe, &broken]).unwrap();
        assert!(
            why.contains("/line\\nbreak\"") && why.contains("line break"),
            "{why}"
        );
    }

    #[test]
    fn sbatch_answers_are_parsed() {
        assert_eq!(parse_submitted("1234\n").as_deref(), Some("1234"));
        assert_eq!(parse_submitted("1234;cluster\n").as_deref(), Some("1234"));
        assert_eq!(parse_submitted("Submitted batch job 5"), None);
        assert_eq!(parse_submitted(""), None);
    }

    #[test]
    fn a_refusal_keeps_slurms_message() {
        let args = vec!["-c".to_string(), "echo 'sbatch: error: Batch job submission failed: Requested node configuration is not available' >&2; exit 1".to_string()];
        match run("sh", &args, QUERY_TIMEOUT) {
            Err(Failure::Refused(m)) => assert_eq!(m, "sbatch: error: Batch job submission failed: Requested node configuration is not available"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            run("sh", &["-c", "sleep 5"], Duration::from_millis(100)),
            Err(Failure::TimedOut(_))
        ));
        assert!(matches!(
            run("/nonexistent/sbatch", &[] as &[&str], QUERY_TIMEOUT),
            Err(Failure::Missing(_))
        ));
    }
}
