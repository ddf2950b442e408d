//! What the user sees while a sweep runs: bars on a terminal (one for the sweep, one per
//! running job), plain lines elsewhere (CI, pipes, logs). The choice is a pure function of
//! (is a terminal, is CI) so it can be tested.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Bars,
    Lines,
}

/// | stderr is a terminal | CI set | mode  |
/// |----------------------|--------|-------|
/// | yes                  | no     | bars  |
/// | yes                  | yes    | lines |
/// | no                   | any    | lines |
pub fn resolve(is_terminal: bool, is_ci: bool) -> Mode {
    if is_terminal && !is_ci {
        Mode::Bars
    } else {
        Mode::Lines
    }
}

pub struct Display {
    mode: Mode,
    multi: MultiProgress,
    overall: Option<ProgressBar>,
    jobs: HashMap<String, (ProgressBar, String, Instant)>,
    total: usize,
    done: usize,
    every: Duration,
}

impl Display {
    /// Bars or lines, as [`resolve`] decides for this process's stderr.
    pub fn for_stderr() -> Display {
        let mode = resolve(
            std::io::stderr().is_terminal(),
            std::env::var_os("CI").is_some(),
        );
        Display::new(mode, Duration::from_secs(15))
    }

    /// `every`: the least time between two progress lines of one job in line mode.
    pub fn new(mode: Mode, every: Duration) -> Display {
        let multi = match mode {
            Mode::Bars => MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            Mode::Lines => MultiProgress::with_draw_target(ProgressDrawTarget::hidden()),
        };
        Display {
            mode,
            multi,
            overall: None,
            jobs: HashMap::new(),
            total: 0,
            done: 0,
            every,
        }
    }

    pub fn start(&mut self, total: usize, already_done: usize) {
        self.total = total;
        self.done = already_done;
        if self.mode == Mode::Bars {
            let bar = self.multi.add(ProgressBar::new(total as u64));
            bar.set_style(
                ProgressStyle::with_template(
                    "sweep [{bar:30}] {pos}/{len} jobs  {elapsed_precise}  eta {eta}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.set_position(already_done as u64);
            self.overall = Some(bar);
        }
    }

    pub fn line(&self, text: &str) {
        match self.mode {
            Mode::Bars => self.multi.suspend(|| eprintln!("{text}")),
            Mode::Lines => eprintln!("{text}"),
        }
    }

    pub fn started(&mut self, job: &str, label: &str, placement: &str) {
        let bar = self.multi.add(ProgressBar::new(1));
        bar.set_style(
            ProgressStyle::with_template("  {prefix} [{bar:20}] {pos}/{len} {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(format!("{job} {label} ({placement})"));
        if self.mode == Mode::Lines {
            eprintln!("         start {job}  {label} on {placement}");
        }
        self.jobs
            .insert(job.to_string(), (bar, label.to_string(), Instant::now()));
    }

    pub fn progress(
        &mut self,
        job: &str,
        iteration: u64,
        iterations: u64,
        loss: f64,
        images_per_sec: f64,
    ) {
        let every = self.every;
        let Some((bar, label, last)) = self.jobs.get_mut(job) else {
            return;
        };
        bar.set_length(iterations);
        bar.set_position(iteration);
        bar.set_message(format!("loss {loss:.4}  {images_per_sec:.0} img/s"));
        if self.mode == Mode::Lines && last.elapsed() >= every {
            *last = Instant::now();
            eprintln!("         {job}  {label}: iteration {iteration}/{iterations}, loss {loss:.4}, {images_per_sec:.0} images/s");
        }
    }

    /// A job ended for good (done, diverged, failed): its line, counted in the sweep's total.
    pub fn finished(&mut self, job: &str, text: &str) {
        self.drop_bar(job);
        self.done += 1;
        if let Some(o) = &self.overall {
            o.set_position(self.done as u64);
        }
        self.line(&format!("[{:>3}/{}] {text}", self.done, self.total));
    }

    /// A job stopped but is not over (interrupted, or waiting for a retry).
    pub fn paused(&mut self, job: &str, text: &str) {
        self.drop_bar(job);
        self.line(&format!("         {text}"));
    }

    fn drop_bar(&mut self, job: &str) {
        if let Some((bar, _, _)) = self.jobs.remove(job) {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
    }

    pub fn finish(&mut self) {
        for (_, (bar, _, _)) in self.jobs.drain() {
            bar.finish_and_clear();
        }
        if let Some(o) = self.overall.take() {
            o.finish_and_clear();
        }
    }
}

/// An error that ends the sweep is printed after this: the bars must be gone by then, or the
/// message would start at the end of the last bar's line.
impl Drop for Display {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_only_on_a_terminal_outside_ci() {
        assert_eq!(resolve(true, false), Mode::Bars);
        assert_eq!(resolve(true, true), Mode::Lines);
        assert_eq!(resolve(false, false), Mode::Lines);
        assert_eq!(resolve(false, true), Mode::Lines);
    }
}
