//! The training batches, prepared ahead in background threads.
//!
//! What sits at a position is a pure function ([`Picker::pick`]): position
//! `p = iteration · batch + j` lies in epoch `p / n`, whose order is a permutation seeded by
//! (seed, epoch) ([`super::super::data::Sampler`]); the flip and the multi-scale side are drawn
//! from (seed, p). So a resumed run sees exactly the batches of an uninterrupted one and the
//! loader keeps no state worth saving.
//!
//! [`Loader::batch`] hands out batches in iteration order while the next [`PREFETCH`] are being
//! decoded on its own thread pool (each batch's images in parallel). Asking for an iteration
//! other than the next one (a resume, a test) restarts the stream there; work in flight for
//! the old stream is cancelled and its results discarded. The results do not depend on the
//! number of threads.

use super::{Dataset, DatasetError};
use crate::trainer::data::Sampler;
use crate::trainer::synth::{key, Image, Rng};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;

/// Batches prepared ahead of the one being trained on.
pub const PREFETCH: u64 = 4;

/// Which image a position shows, and how.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pick {
    /// Index into the training split.
    pub index: usize,
    /// Mirrored left–right.
    pub flip: bool,
    /// Longer side of the resized image in pixels (`image_size` without multi-scale).
    pub side: f64,
}

/// Positions to picks: the permutation of the current epoch is cached, nothing else is kept.
#[derive(Debug, Clone)]
pub struct Picker {
    seed: u64,
    sampler: Sampler,
    flip: bool,
    multi_scale: Option<[u32; 2]>,
    size: u32,
}

impl Picker {
    pub fn new(
        seed: u64,
        n: usize,
        flip: bool,
        multi_scale: Option<[u32; 2]>,
        size: u32,
    ) -> Picker {
        Picker {
            seed,
            sampler: Sampler::new(seed, n),
            flip,
            multi_scale,
            size,
        }
    }

    /// The pick at global training position `pos`.
    pub fn pick(&mut self, pos: u64) -> Pick {
        let (index, flip) = self.sampler.at(pos);
        let side = match self.multi_scale {
            None => self.size as f64,
            Some([lo, hi]) => {
                let u = Rng::new(key(&[self.seed, 0x73_6361_6c65, pos])).unit() as f64;
                lo as f64 + (hi - lo) as f64 * u
            }
        };
        Pick {
            index,
            flip: flip && self.flip,
            side,
        }
    }
}

type Batch = Result<Vec<Image>, DatasetError>;

/// One run of consecutive iterations being prepared.
struct Stream {
    /// The iteration the trainer asks for next.
    next: u64,
    /// Iterations below this one are in flight or ready.
    scheduled: u64,
    tx: Sender<(u64, Batch)>,
    rx: Receiver<(u64, Batch)>,
    ready: BTreeMap<u64, Batch>,
    cancelled: Arc<AtomicBool>,
}

/// Training batches of one job, prepared ahead.
pub struct Loader {
    data: Arc<Dataset>,
    picker: Picker,
    batch: usize,
    pool: rayon::ThreadPool,
    stream: Option<Stream>,
}

impl Loader {
    /// A loader with `threads` decoding threads (at least one).
    pub fn new(
        data: Arc<Dataset>,
        seed: u64,
        batch: usize,
        threads: usize,
    ) -> Result<Loader, DatasetError> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .thread_name(|i| format!("sweep-loader-{i}"))
            .build()
            .map_err(|e| DatasetError::Loader {
                detail: format!("cannot start {threads} loader threads: {e}"),
            })?;
        Ok(Loader {
            picker: data.picker(seed),
            data,
            batch: batch.max(1),
            pool,
            stream: None,
        })
    }

    /// The picks of training iteration `iteration` (0-based).
    pub fn picks(&mut self, iteration: u64) -> Vec<Pick> {
        let b = self.batch as u64;
        (0..b)
            .map(|j| self.picker.pick(iteration * b + j))
            .collect()
    }

    /// The images of training iteration `iteration`, in pick order.
    pub fn batch(&mut self, iteration: u64) -> Batch {
        if self.stream.as_ref().map(|s| s.next) != Some(iteration) {
            self.restart(iteration);
        }
        while self.stream.as_ref().expect("started above").scheduled < iteration + PREFETCH {
            self.schedule();
        }
        let s = self.stream.as_mut().expect("started above");
        loop {
            if let Some(b) = s.ready.remove(&iteration) {
                s.next = iteration + 1;
                return b;
            }
            let (it, b) = s.rx.recv().expect("the stream holds a sender");
            s.ready.insert(it, b);
        }
    }

    fn restart(&mut self, iteration: u64) {
        if let Some(old) = self.stream.take() {
            old.cancelled.store(true, Ordering::SeqCst);
        }
        let (tx, rx) = channel();
        self.stream = Some(Stream {
            next: iteration,
            scheduled: iteration,
            tx,
            rx,
            ready: BTreeMap::new(),
            cancelled: Arc::new(AtomicBool::new(false)),
        });
    }

    /// Starts preparing the next unscheduled iteration.
    fn schedule(&mut self) {
        let it = self.stream.as_ref().expect("started").scheduled;
        let picks = self.picks(it);
        let s = self.stream.as_mut().expect("started");
        s.scheduled += 1;
        let (tx, cancelled, data) = (s.tx.clone(), s.cancelled.clone(), self.data.clone());
        self.pool.spawn(move || {
            if cancelled.load(Ordering::SeqCst) {
                return;
            }
            let work = std::panic::AssertUnwindSafe(|| {
                picks
                    .par_iter()
                    .map(|&p| data.train_image(p))
                    .collect::<Batch>()
            });
            let batch = std::panic::catch_unwind(work).unwrap_or_else(|p| {
                let detail = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "a loader thread panicked".into());
                Err(DatasetError::Loader { detail })
            });
            // The receiver is gone when the stream was restarted or the loader dropped.
            let _ = tx.send((it, batch));
        });
    }
}

impl Drop for Loader {
    fn drop(&mut self) {
        if let Some(s) = &self.stream {
            s.cancelled.store(true, Ordering::SeqCst);
        }
    }
}
